"""Where a run report lives on disk and under the Airflow UI.

Layout (``settings.reports_dir()``)::

    <flow_id>/runs/<run_key>.json | .html      the run reports
    <flow_id>/gx/uncommitted/data_docs/local_site/...   the flow's GX Data Docs site

The UI plugin serves ``/syncgate/flows/{flow_id}/runs/{run_id}/report`` (and ``report.json``)
and the Data Docs site root as ``/syncgate/flows/{flow_id}/docs/``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from syncgate import settings

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# Airflow run ids may be 250 characters: keep file names well under the usual 255-byte limit.
_MAX_KEY = 150


def run_key(run_id: str) -> str:
    """A filesystem-safe form of ``run_id``: characters outside ``[A-Za-z0-9_.-]`` become ``_``
    and, when anything changed, a short hash of the original keeps distinct ids distinct."""
    safe = _UNSAFE.sub("_", run_id)
    if safe == run_id and len(safe) <= _MAX_KEY and safe.strip("."):
        return safe
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    return f"{safe[:_MAX_KEY]}-{digest}"


def report_url(flow_id: str, run_id: str) -> str:
    """Path of the run's report HTML under the Airflow base URL."""
    return f"/syncgate/flows/{quote(flow_id, safe='')}/runs/{quote(run_id, safe='')}/report"


def runs_dir(flow_id: str) -> Path:
    """Folder holding a flow's run reports."""
    return settings.reports_dir() / flow_id / "runs"


def report_files(flow_id: str, run_id: str) -> tuple[Path, Path]:
    """(JSON path, HTML path) of the run's report."""
    stem = runs_dir(flow_id) / run_key(run_id)
    return stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".html")


def docs_site_dir(flow_id: str) -> Path:
    """Root of the flow's GX Data Docs site (served as ``/syncgate/flows/{flow_id}/docs/``)."""
    return settings.reports_dir() / flow_id / "gx" / "uncommitted" / "data_docs" / "local_site"


def docs_path(flow_id: str, site_url: str | None) -> str | None:
    """The page of a GX ``site_url`` relative to the flow's Data Docs site root, or None.

    The result is URL-quoted, e.g. ``validations/orders/manual__1/20260101T000000.000000Z/abc.html``.
    """
    if not site_url:
        return None
    parsed = urlparse(site_url)
    path = Path(unquote(parsed.path)) if parsed.scheme in ("file", "") else None
    if path is None:
        return None
    try:
        relative = path.resolve().relative_to(docs_site_dir(flow_id).resolve())
    except ValueError:
        return None
    return quote(relative.as_posix())


def docs_link(docs_relative: str | None) -> str | None:
    """Link from the report page (``.../runs/{run_id}/report``) to a Data Docs page, relative,
    so it works under any Airflow base URL: ``../../docs/<page>``."""
    return f"../../docs/{docs_relative}" if docs_relative else None
