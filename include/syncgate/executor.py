"""A LocalExecutor whose task processes start with the stage libraries already imported.

Under the LocalExecutor the scheduler forks its worker processes once, and each worker forks
(no exec) one process per task. Whatever the scheduler has imported before it forks the
workers is therefore in every task process for free. A small run paid 3.4-4.3 s of library
start-up per run for that (GX alone 3.4-3.8 s in verify, psycopg / pyarrow / the Postgres
provider 0.2 s each in extract and load), more than its stages' own work and the scheduler's
gaps together (BENCHMARKS.md, "Run fixed cost").

Enable it with ``AIRFLOW__CORE__EXECUTOR=syncgate.executor.PrewarmedLocalExecutor``
(``make demo`` does). It costs the scheduler ~5 s of CPU once at start-up and ~0.2 GB of
resident memory, shared copy-on-write with the workers and the task processes. Because the
task processes inherit the modules, syncgate's own code included, they run the code the
scheduler started with: after upgrading syncgate, restart the scheduler.
"""

from __future__ import annotations

import importlib
import logging
import time

from airflow.executors.local_executor import LocalExecutor

from syncgate.pipeline.startup import STAGE_LIBRARIES
from syncgate.quality.checkpoint import quiet_gx

log = logging.getLogger(__name__)

# What a task process imports besides the stage libraries: parsing the flows' DAG file
# (the spec models, the DAG factory) and the PostgreSQL source's ADBC driver.
PARSE_MODULES = (
    "syncgate.dag_factory",
    "syncgate.spec.loader",
    "syncgate.batch.contract",
    "syncgate.batch.run",
    "airflow.providers.standard.decorators.python",
    "adbc_driver_manager",
    "adbc_driver_postgresql",
)


# The engine's packages that a task process uses, parsing the DAG file (spec models, connectors,
# triggers, report links) and running a stage: imported module by module, so that a new module
# is pre-imported without being listed. Without them each task imported the connectors again
# while parsing (~0.13 s of its ~0.2 s parse, measured with py-spy under the latency bench).
ENGINE_PACKAGES = (
    "syncgate.connectors",
    "syncgate.pipeline",
    "syncgate.batch",
    "syncgate.state",
    "syncgate.quality",
    "syncgate.report",
    "syncgate.redact",
    "syncgate.reconcile",
    "syncgate.conflicts",
    "syncgate.events",
    "syncgate.db",
    "syncgate.spec",
    "syncgate.runtime",
)
# Modules of those packages that are scripts, not engine code a task uses.
NOT_PREWARMED = frozenset({"syncgate.spec.refresh_expectation_types"})


def prewarm_modules() -> tuple[str, ...]:
    """Every module the stage tasks import, in a stable order, without duplicates."""
    names = [name for stage in STAGE_LIBRARIES.values() for name in stage] + list(PARSE_MODULES)
    return tuple(dict.fromkeys([*names, *engine_modules()]))


def engine_modules() -> list[str]:
    """The modules of ``ENGINE_PACKAGES``, packages before their modules, sorted."""
    import pkgutil

    def skipped(name: str) -> None:
        log.warning("syncgate: could not pre-import %s for the task processes", name)

    names: list[str] = []
    for package_name in ENGINE_PACKAGES:
        # Walking a package imports its subpackages: a failure is logged and skipped, like any
        # module's (``prewarm``), never a reason for the scheduler's executor not to start.
        try:
            package = importlib.import_module(package_name)
            found = sorted(
                info.name
                for info in pkgutil.walk_packages(
                    package.__path__, prefix=f"{package_name}.", onerror=skipped
                )
                if info.name not in NOT_PREWARMED
            )
        except Exception as exc:
            log.warning("syncgate: could not pre-import %s for the task processes: %s", package_name, exc)
            continue
        names.append(package_name)
        names += found
    return names


def prewarm() -> float:
    """Import the stage libraries into this process; returns the seconds it took.

    A module that fails to import is logged and skipped: the task that needs it imports it
    itself and reports the error there, where it belongs.
    """
    started = time.monotonic()
    quiet_gx()  # before GX's import, which otherwise logs hundreds of INFO lines
    for name in prewarm_modules():
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional driver must not stop the scheduler
            log.warning("syncgate: could not pre-import %s for the task processes: %s", name, exc)
    seconds = time.monotonic() - started
    log.info("syncgate: pre-imported the stage libraries for the task processes in %.1f s", seconds)
    return seconds


class PrewarmedLocalExecutor(LocalExecutor):
    """LocalExecutor that imports the stage libraries before it forks its workers."""

    def start(self) -> None:
        if self.is_mp_using_fork:  # spawned workers would not inherit the imports
            prewarm()
        super().start()
