"""Deployment settings, read from environment variables only (no I/O at DAG parse time).

The defaults never depend on where the engine lives (a checkout's ``include/`` or an installed
wheel's site-packages): they follow Airflow's own layout, ``$AIRFLOW_HOME`` and its DAG folder.
"""

from __future__ import annotations

import os
from pathlib import Path

# Set by ``syncgate.loader.load_all(flows_dir)`` in the process that parses the loader DAG file
# (the DAG processor, and every task process, which parses it again before running a task).
_loader_flows_dir: Path | None = None


def airflow_home() -> Path:
    """``$AIRFLOW_HOME``, defaulting to ``~/airflow`` as Airflow does."""
    return Path(os.path.expanduser(os.environ.get("AIRFLOW_HOME") or "~/airflow"))


def dags_folder() -> Path:
    """Airflow's DAG folder (``[core] dags_folder``; read from Airflow's already loaded configuration)."""
    configured = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    if not configured:
        from airflow.configuration import conf

        configured = conf.get("core", "dags_folder", fallback="") or str(airflow_home() / "dags")
    return Path(os.path.expanduser(configured))


def flows_dir() -> Path:
    """Folder holding one YAML spec per flow: ``SYNCGATE_FLOWS_DIR``, else the folder given to
    the loader DAG, else ``flows/`` in Airflow's DAG folder."""
    configured = os.environ.get("SYNCGATE_FLOWS_DIR")
    if configured:
        return Path(os.path.expanduser(configured))
    return _loader_flows_dir or dags_folder() / "flows"


def use_flows_dir(folder: Path) -> None:
    """Make ``folder`` this process's flows folder while ``SYNCGATE_FLOWS_DIR`` is unset."""
    global _loader_flows_dir
    _loader_flows_dir = folder


def landing_url() -> str:
    """Root of the landing area: a local folder or any fsspec URL (``SYNCGATE_LANDING_URL``,
    default ``$AIRFLOW_HOME/syncgate/landing``)."""
    return os.environ.get("SYNCGATE_LANDING_URL") or (airflow_home() / "syncgate" / "landing").as_uri()


def reports_dir() -> Path:
    """Local folder for GX Data Docs and run reports (``SYNCGATE_REPORTS_DIR``, default
    ``$AIRFLOW_HOME/syncgate/reports``)."""
    configured = os.environ.get("SYNCGATE_REPORTS_DIR")
    return Path(os.path.expanduser(configured)) if configured else airflow_home() / "syncgate" / "reports"


def hash_key() -> bytes | None:
    """Key for ``transform.hash`` (``SYNCGATE_HASH_KEY``); None when unset."""
    value = os.environ.get("SYNCGATE_HASH_KEY")
    return value.encode() if value else None


def batch_bytes() -> int:
    """Bytes of source data parsed per landed row group: bounds every task's memory."""
    return int(os.environ.get("SYNCGATE_BATCH_BYTES", str(4 * 1024 * 1024)))


def load_streams() -> int:
    """Parallel COPY streams into staging (``SYNCGATE_LOAD_STREAMS``): PostgreSQL parses each
    stream on its own core."""
    return max(1, int(os.environ.get("SYNCGATE_LOAD_STREAMS", "2")))


def extract_driver() -> str:
    """How PostgreSQL sources are read (``SYNCGATE_EXTRACT_DRIVER``): ``adbc`` (default: binary
    COPY decoded by the ADBC driver, for the column types it lands unchanged) or ``copy``
    (COPY CSV parsed by Arrow, every type)."""
    value = os.environ.get("SYNCGATE_EXTRACT_DRIVER", "adbc").strip().lower()
    return value if value in ("adbc", "copy") else "adbc"


def load_format() -> str:
    """How batches travel into staging (``SYNCGATE_LOAD_FORMAT``): ``binary`` (default: binary
    COPY for every row group whose values allow it, else CSV) or ``csv`` (always CSV)."""
    value = os.environ.get("SYNCGATE_LOAD_FORMAT", "binary").strip().lower()
    return value if value in ("binary", "csv") else "binary"


def report_runs() -> int:
    """GX reports kept per flow (``SYNCGATE_REPORT_RUNS``); older ones are pruned."""
    return max(1, int(os.environ.get("SYNCGATE_REPORT_RUNS", "50")))


def monitor_schedule() -> str:
    """Cron schedule of the freshness and alert monitor DAG (``SYNCGATE_MONITOR_SCHEDULE``)."""
    return os.environ.get("SYNCGATE_MONITOR_SCHEDULE", "*/5 * * * *")


def freshness_keep_days() -> int:
    """Days of ``syncgate.freshness`` history kept (``SYNCGATE_FRESHNESS_KEEP_DAYS``): the monitor
    writes one row per flow per run (200 flows every 5 minutes: 57,600 rows a day)."""
    return max(1, int(os.environ.get("SYNCGATE_FRESHNESS_KEEP_DAYS", "30")))


def webhook_max_bytes() -> int:
    """Largest webhook body the receiver reads (``SYNCGATE_WEBHOOK_MAX_BYTES``, default 1 MiB):
    a larger one is refused with 413 before it is buffered."""
    return max(1, int(os.environ.get("SYNCGATE_WEBHOOK_MAX_BYTES", str(1024 * 1024))))


def webhook_refusals_per_minute() -> int:
    """Refused webhook requests recorded (and logged) per flow and minute
    (``SYNCGATE_WEBHOOK_REFUSALS_PER_MINUTE``); the rest are only counted."""
    return max(1, int(os.environ.get("SYNCGATE_WEBHOOK_REFUSALS_PER_MINUTE", "10")))


def spec_max_bytes() -> int:
    """Largest spec, defaults or suite file read (``SYNCGATE_SPEC_MAX_BYTES``, default 1 MiB): the
    shipped specs have 1-3 KB; a larger file is an import error of its own DAG, unread."""
    return max(1, int(os.environ.get("SYNCGATE_SPEC_MAX_BYTES", str(1024 * 1024))))


def spec_max_nodes() -> int:
    """Most values one spec file may expand to, YAML aliases counted once per use
    (``SYNCGATE_SPEC_MAX_NODES``, default 50,000): bounds validation and DAG-building memory."""
    return max(1, int(os.environ.get("SYNCGATE_SPEC_MAX_NODES", "50000")))


def spec_budget_seconds() -> float:
    """Seconds one spec file may take to load, validate and build its DAG
    (``SYNCGATE_SPEC_BUDGET_SECONDS``, default 5; a shipped spec takes a few milliseconds): a
    slower one is skipped as an import error so the DAG file stays within Airflow's import timeout."""
    return max(0.1, float(os.environ.get("SYNCGATE_SPEC_BUDGET_SECONDS", "5")))


def specs_total_seconds() -> float:
    """Seconds the whole flows folder may take to load and build (``SYNCGATE_SPECS_TOTAL_SECONDS``,
    default 20, below Airflow's 30 s ``dagbag_import_timeout``, past which Airflow drops every
    flow): specs load smallest first, those left when it runs out are import errors."""
    return max(0.1, float(os.environ.get("SYNCGATE_SPECS_TOTAL_SECONDS", "20")))


def run_lease_seconds() -> float:
    """How long a running stage's lease lasts without a heartbeat (``SYNCGATE_RUN_LEASE_SECONDS``).

    The stage renews it every quarter of this; a run whose lease has expired is dead (its task
    was killed, its worker lost) and the flow's next run marks it failed and removes its leftovers.
    """
    return float(os.environ.get("SYNCGATE_RUN_LEASE_SECONDS", "120"))


def run_handoff_seconds() -> float:
    """Lease a run keeps between two of its tasks (``SYNCGATE_RUN_HANDOFF_SECONDS``): the next
    task may wait in a queue or a pool that long before it heartbeats again."""
    return float(os.environ.get("SYNCGATE_RUN_HANDOFF_SECONDS", "3600"))
