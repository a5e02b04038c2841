"""Which inline scripts of a GX Data Docs page may run: GX's own, recognised by their shape.

A served page gets a CSP that lists a hash per inline script, so the scripts to hash must be
exactly the ones GX's templates emit, never one that a source value smuggled into the page.
GX emits three kinds:

* fixed scripts, the same text in every page (bootstrap_table_js_functions.j2,
  page_action_card.j2, the walkthrough snippet of page.j2, ...): taken verbatim from the
  installed templates, so a GX upgrade brings its own;
* a bootstrap-table call (bootstrap_table.j2, the index lists) and a vega-embed call
  (graph.j2), whose slots GX fills with Python-repr / JSON *data*: the code around the slots
  must be the template's, and each slot must hold nothing but literals (strings, numbers,
  brackets, true/false/null), so it can call nothing;
* ``onclick`` handlers of the "Clear Filters" button and the validation filter.

Anything else on a page gets no hash and does not run.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import re
import tokenize
from functools import cache
from pathlib import Path

_ID = r"[A-Za-z0-9_-]+"
_LITERAL = object()  # a slot holding data only
_STRING = object()  # a slot holding one string literal
_CONSTANTS = {"True", "False", "None", "true", "false", "null"}
_OPENERS, _CLOSERS = "[{(", "]})"

_TABLE_CALL = [
    rf"\s*\$\('#{_ID}'\)\.bootstrapTable\(\s*Object\.assign\(\s*\{{\s*columns:\s*",
    _LITERAL,
    r",\s*data:\s*",
    _LITERAL,
    rf",\s*toolbar:\s*'#{_ID}'\s*\}},\s*",
    _LITERAL,
    r"\s*\)\s*\);\s*",
]
_TABLE_TITLE = [rf"\$\(\"#{_ID} > thead\"\)\.prepend\(", _STRING, r"\);\s*"]
_TABLE_LINKS = [
    rf"\$\(document\)\.ready\(function\(\)\s*\{{\s*\$\(\"#{_ID}\"\)\.on\('click-row\.bs\.table',\s*"
    r"function\(e,\s*row,\s*\$element\)\s*\{\s*window\.location\s*=\s*\$element\.data\(\"href\"\);\s*"
    r"\}\)\s*\}\s*\);\s*"
]
_GRAPH = [
    r"\s*// Assign the specification to a local variable vlSpec\.\s*vlSpec\s*=\s*",
    _LITERAL,
    r";\s*// Embed the visualization in the container with id `vis`\s*"
    rf"vegaEmbed\('#{_ID}-graph(?:-child-\d+)?',\s*vlSpec,\s*\{{\s*actions:\s*false\s*\}}\)"
    r"\.then\(result=>console\.log\(result\)\)\.catch\(console\.warn\);\s*",
]
SHAPES: tuple[list[object], ...] = (
    _TABLE_CALL,
    _TABLE_CALL + _TABLE_TITLE,
    _TABLE_CALL + _TABLE_LINKS,
    _TABLE_CALL + _TABLE_TITLE + _TABLE_LINKS,
    _GRAPH,
)
HANDLERS = (
    re.compile(rf"clearTableFilters\('{_ID}'\)"),
    re.compile(r"showAllValidations\(\)"),
    re.compile(r"hideSucceededValidations\(\)"),
)
_TEMPLATE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def csp_hash(text: str) -> str:
    """The CSP hash source of an inline script or handler (``'sha256-...'``)."""
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
    return f"'sha256-{digest}'"


def allowed_script(body: str) -> bool:
    """True when ``body`` (an inline script's text) is one GX's templates emit."""
    return body in fixed_scripts() or any(_matches(body, shape) for shape in SHAPES)


def allowed_handler(value: str) -> bool:
    """True for the ``onclick`` handlers GX's templates emit."""
    return any(pattern.fullmatch(value) for pattern in HANDLERS)


def gx_templates() -> Path | None:
    """The installed GX Data Docs templates (found without importing GX), or None."""
    spec = importlib.util.find_spec("great_expectations")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "render" / "view" / "templates"
    return folder if folder.is_dir() else None


@cache
def fixed_scripts() -> frozenset[str]:
    """The inline scripts of GX's templates that hold no template expression."""
    folder = gx_templates()
    if folder is None:
        return frozenset()
    bodies = (
        m.group(1) for t in sorted(folder.glob("*.j2")) for m in _TEMPLATE_SCRIPT.finditer(t.read_text())
    )
    return frozenset(b for b in bodies if "{{" not in b and "{%" not in b and "{#" not in b)


def _matches(body: str, shape: list[object]) -> bool:
    pos = 0
    for part in shape:
        if isinstance(part, str):
            found = re.compile(part).match(body, pos)
            if found is None:
                return False
            pos = found.end()
        else:
            end = _literal_end(body, pos, single_string=part is _STRING)
            if end is None:
                return False
            pos = end
    return pos == len(body)


def _literal_end(text: str, start: int, *, single_string: bool = False) -> int | None:
    """Where the data literal starting at ``start`` ends, or None unless it is data only.

    Data only: one bracketed, balanced run of string / number / constant tokens and the
    punctuation of lists and mappings; or, for ``single_string``, one plain string token.
    Python's tokenizer reads it: Python-repr and JSON literals are both such runs, and strings
    that are not one-line, unprefixed quotes are refused (JavaScript would read them otherwise).
    """
    offsets = [0]  # where each line the tokenizer reads starts (it splits at "\n" only)
    for line in io.StringIO(text[start:]).readlines():
        offsets.append(offsets[-1] + len(line))
    depth = 0
    after_value = False  # after a value only "," ":" or a closer: no 'a' 'b', no 1[0] or {}.x
    try:
        for token in tokenize.generate_tokens(io.StringIO(text[start:]).readline):
            kind, value = token.type, token.string
            if kind == tokenize.NL:
                continue
            is_value = kind in (tokenize.STRING, tokenize.NUMBER) or (
                kind == tokenize.NAME and value in _CONSTANTS
            )
            if after_value and not (kind == tokenize.OP and value in ",:" + _CLOSERS):
                return None
            if kind == tokenize.STRING:
                if value[0] not in "'\"" or value[:3] in ("'''", '"""') or "\n" in value:
                    return None
            elif single_string:
                return None
            elif kind == tokenize.OP and value in _OPENERS:
                depth += 1
            elif kind == tokenize.OP and value in _CLOSERS:
                depth -= 1
                if depth < 0:
                    return None
            elif not (depth > 0 and (is_value or (kind == tokenize.OP and value in ":,-"))):
                return None
            after_value = is_value or (kind == tokenize.OP and value in _CLOSERS)
            if single_string or depth == 0:
                row, col = token.end
                return start + offsets[row - 1] + col
    except (tokenize.TokenError, SyntaxError):
        return None
    return None
