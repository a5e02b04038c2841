"""HTML rendering: Jinja2 templates with autoescaping, and the filters they use."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.responses import HTMLResponse

from syncgate.ui import formatting
from syncgate.ui.health import freshness_colour
from syncgate.ui.sparkline import sparkline

if TYPE_CHECKING:
    import jinja2
    from starlette.requests import Request

TEMPLATES = Path(__file__).parent / "templates"
# Our pages run no script and load nothing from elsewhere; only inline styles and SVG. The one
# form (resolving a conflict) posts to this app only.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'; "
    "form-action 'self'"
)


@cache
def environment() -> jinja2.Environment:
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        duration=formatting.duration,
        count=formatting.count,
        timestamp=formatting.timestamp,
        q=lambda value: quote(str(value), safe=""),
        qpath=lambda value: quote(str(value), safe="/"),
        compact_json=lambda value: json.dumps(value, ensure_ascii=False, default=str, sort_keys=True),
        colour=freshness_colour,
        # The SVG holds only numbers formatted by sparkline() and an escaped title.
        sparkline=lambda values, label="lag trend": Markup(sparkline(values, label=label)),
    )
    return env


def base_path(request: Request) -> str:
    """The app's own path prefix: ``<airflow base path>/syncgate`` when mounted by the plugin."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    root = base_path(request)

    def link(path: str, **params: Any) -> str:
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        return f"{root}{path}" + (f"?{query}" if query else "")

    # Airflow's own pages sit at the base path the plugin is mounted under.
    airflow_base = root.removesuffix("/syncgate")
    html = environment().get_template(template).render(link=link, airflow_base=airflow_base, **context)
    return HTMLResponse(html, status_code=status_code, headers={"Content-Security-Policy": PAGE_CSP})
