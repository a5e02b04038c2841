"""Report files the UI serves: a flow's GX Data Docs site and its run reports.

Paths come from the URL, so every lookup is confined to the flow's own folder: no ``..``, no
absolute paths, no symlink leading out, only regular files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from syncgate import settings

# Where GX writes the site under a flow's docs root (FilesystemStoreBackendDefaults, "local_site").
DATA_DOCS_SITE = Path("uncommitted") / "data_docs" / "local_site"
DATA_DOCS_INDEX = "index.html"


def data_docs_root(flow_id: str) -> Path:
    """The flow's GX Data Docs site folder (``reports_dir()/<flow_id>/gx/.../local_site``)."""
    return settings.reports_dir() / flow_id / "gx" / DATA_DOCS_SITE


def data_docs_index(flow_id: str) -> Path | None:
    """The site's index page, or None while the flow has no Data Docs yet."""
    index = data_docs_root(flow_id) / DATA_DOCS_INDEX
    return index if index.is_file() else None


def safe_file(root: Path, relative: str) -> Path | None:
    """``root/relative`` when it is a regular file inside ``root``; None otherwise."""
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    parts = PurePosixPath(relative).parts
    if PurePosixPath(relative).is_absolute() or any(p in ("..", ".") for p in parts):
        return None
    try:
        base = root.resolve(strict=True)
        candidate = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


def docs_relative(flow_id: str, report: str | None) -> str | None:
    """The Data Docs page of an audit row's ``quality_report`` (a file URL), relative to the site."""
    if not report:
        return None
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(report)
    if parts.scheme not in ("file", ""):
        return None
    try:
        path = Path(unquote(parts.path)).resolve()
        relative = path.relative_to(data_docs_root(flow_id).resolve())
    except (OSError, ValueError):
        return None
    return relative.as_posix()


@dataclass(frozen=True)
class ValidationPage:
    """One GX validation result page of the flow's Data Docs site."""

    run_name: str
    validated_at: str
    path: str  # relative to the site


def validation_pages(flow_id: str, limit: int = 50) -> list[ValidationPage]:
    """The newest validation result pages, newest first.

    The flow page lists them without a script (GX's index draws its list with scripts, which
    ``ui.datadocs_page`` lets run). Layout: ``validations/<suite>/<run>/<timestamp>/<batch>.html``.
    """
    site = data_docs_root(flow_id)
    suite = site / "validations" / flow_id
    if not suite.is_dir():
        return []
    # GX's run-time folder (microseconds) orders them: two runs can share a displayed second.
    pages = sorted(
        suite.glob("*/*/*.html"), key=lambda p: (p.parent.name, p.parent.parent.name), reverse=True
    )
    return [
        ValidationPage(page.parent.parent.name, _stamp(page.parent.name), page.relative_to(site).as_posix())
        for page in pages[:limit]
    ]


def _stamp(folder: str) -> str:
    # 20261126T163349.009034Z -> 2026-11-26 16:33:49 UTC (GX's run time, UTC)
    try:
        return datetime.strptime(folder, "%Y%m%dT%H%M%S.%fZ").strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return folder
