"""Keep PII values out of GX results: before GX stores a validation result (which Data Docs are
rendered from, and which the report, XCom and audit row are built from), the results of
expectations on PII columns lose everything but their counts.

GX applies one result format per checkpoint run (the run's format overrides an expectation's
own), so a per-expectation BOOLEAN_ONLY cannot be forced; scrubbing before the store is the
one place every consumer goes through.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import Any

log = logging.getLogger(__name__)

# Result keys that are counts or ratios, never data values: all a PII expectation keeps.
SAFE_RESULT_KEYS = frozenset(
    {
        "element_count",
        "missing_count",
        "missing_percent",
        "unexpected_count",
        "unexpected_percent",
        "unexpected_percent_total",
        "unexpected_percent_nonmissing",
    }
)
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_LIST_KWARGS = ("column_list", "column_set")
# Expectations that run SQL of their own can return whole rows, whichever columns they name.
_QUERY_KWARGS = ("unexpected_rows_query", "query", "base_query", "comparison_query")
SCRUBBED = "withheld: PII column"


def columns_of(kwargs: dict[str, Any]) -> set[str]:
    """Column names an expectation's kwargs refer to."""
    named = {str(kwargs[k]) for k in _COLUMN_KWARGS if kwargs.get(k)}
    for key in _LIST_KWARGS:
        named.update(str(c) for c in kwargs.get(key) or ())
    return named


def touches_pii(kwargs: dict[str, Any], pii: Collection[str]) -> bool:
    """Whether an expectation's result may carry values of a PII column."""
    if not pii:
        return False
    return bool(columns_of(kwargs) & set(pii)) or any(kwargs.get(k) for k in _QUERY_KWARGS)


def scrub_result(result: dict[str, Any]) -> dict[str, Any]:
    """Drop every result key but the counts, in place; returns the same dict."""
    for key in [k for k in result if k not in SAFE_RESULT_KEYS]:
        del result[key]
    return result


def scrub_validation(validation: Any, pii: Collection[str]) -> int:
    """Scrub, in place, the results of a GX ``ExpectationSuiteValidationResult`` that touch PII.

    Returns how many expectation results were scrubbed.
    """
    scrubbed = 0
    for checked in _results(validation):
        config = checked.expectation_config
        if config is None or not touches_pii(dict(config.kwargs), pii):
            continue
        if checked.result:
            scrub_result(checked.result)
        # A database error can quote the value it choked on.
        checked.exception_info = _scrub_exception(checked.exception_info)
        # Renderers read the unexpected list from the result only; meta is spec-authored.
        checked.meta = {**(checked.meta or {}), "syncgate_pii": SCRUBBED}
        scrubbed += 1
    return scrubbed


def guard_store(context: Any, pii: Collection[str]) -> None:
    """Make the context's validation results store scrub PII before anything is stored, and
    HTML-escape the data values it keeps.

    Data Docs are built from the stored results, so they never see a clear PII value either; and
    GX renders sample values into its pages as raw HTML, so a source value such as
    ``<img onerror=...>`` would otherwise run as script wherever the pages are served.
    """
    store = context.validation_results_store
    original = store.store_validation_results
    columns = frozenset(pii)

    def store_scrubbed(*args: Any, **kwargs: Any) -> Any:
        validation = kwargs.get("suite_validation_result", args[0] if args else None)
        count = scrub_validation(validation, columns) if columns else 0
        if count:
            log.info("Withheld result values of %d expectation(s) on PII columns", count)
        for checked in _results(validation):
            if checked.result:
                checked.result = _escaped(checked.result)
        return original(*args, **kwargs)

    store.store_validation_results = store_scrubbed


def _escaped(value: Any) -> Any:
    """``value`` with every string HTML-escaped (numbers and structure unchanged)."""
    import html

    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(item) for item in value]
    return value


def _scrub_exception(info: Any) -> Any:
    if not isinstance(info, dict):
        return info
    if "exception_message" in info or "exception_traceback" in info:
        raised = bool(info.get("raised_exception"))
        return {
            "raised_exception": raised,
            "exception_message": SCRUBBED if raised else None,
            "exception_traceback": None,
        }
    return {key: _scrub_exception(value) for key, value in info.items()}


def _results(validation: Any) -> Iterable[Any]:
    return getattr(validation, "results", None) or ()
