"""Where a run's report files live, and the UI address that serves them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import quote

from syncgate import settings

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def run_key(run_id: str) -> str:
    """A filesystem-safe form of an Airflow run id.

    Characters outside ``[A-Za-z0-9_.-]`` become ``_``; when that changed anything, a short hash
    of the original id is appended so two run ids that differ only there never share a file.
    """
    safe = _UNSAFE.sub("_", run_id)
    if safe == run_id:
        return safe
    digest = hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:8]
    return f"{safe}-{digest}"


def report_files(flow_id: str, run_id: str) -> tuple[Path, Path]:
    """The run report's (json, html) files under ``reports_dir()/<flow_id>/runs/``."""
    base = settings.reports_dir() / flow_id / "runs" / run_key(run_id)
    return base.with_name(base.name + ".json"), base.with_name(base.name + ".html")


def report_url(flow_id: str, run_id: str) -> str:
    """The run report's path under the Airflow base URL (served by the syncgate UI plugin)."""
    return f"/syncgate/flows/{flow_id}/runs/{quote(run_id, safe='')}/report"
