"""Render a run report dict as one self-contained HTML page (inline CSS, no scripts, no
external assets), every value escaped by Jinja2's autoescaping."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

TEMPLATE = "run_report.html.j2"


def render_html(report: dict[str, Any]) -> str:
    """The report as an HTML document."""
    return _environment().get_template(TEMPLATE).render(r=report)


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    from syncgate.quality.template_cache import bytecode_cache

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("syncgate.report", "templates"),
        autoescape=True,  # every value: names, errors and samples come from data and specs
        undefined=jinja2.ChainableUndefined,  # a missing part renders as "–", never fails
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=bytecode_cache(),  # each task is a fresh process: compile once per machine
    )
    env.filters["num"] = _num
    env.filters["seconds"] = _seconds
    env.filters["size"] = _size
    env.filters["compact"] = _compact
    env.filters["pct"] = _pct
    return env


def _missing(value: Any) -> bool:
    import jinja2

    return value is None or isinstance(value, jinja2.Undefined)


def _num(value: Any) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _seconds(value: Any) -> str:
    if _missing(value) or not isinstance(value, (int, float)):
        return "–"
    return f"{value:.2f} s" if value < 120 else f"{value / 60:.1f} min"


def _size(value: Any) -> str:
    if _missing(value) or not isinstance(value, (int, float)):
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return str(value)  # unreachable


def _pct(value: Any) -> str:
    """`` (12.50%)`` after a count, or nothing."""
    if _missing(value) or isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    return f" ({value:.2f}%)"


def _compact(value: Any) -> str:
    """JSON for small structured values (expectation kwargs, samples, schema changes)."""
    if _missing(value):
        return "–"
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
