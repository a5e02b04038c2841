"""Library start-up of a stage task, measured apart from the stage's own work.

A task process imports psycopg, pyarrow or GX on first use: 0.1-0.5 s each (GX 2-3 s), paid
once per process whatever the batch size. Like the interpreter's and Airflow's own start-up it
is not sync work, so each stage imports its libraries before its timer starts and reports the
time as ``<stage>_startup`` next to its own seconds (the run report shows both).
"""

from __future__ import annotations

import gc
import importlib
import time

from syncgate.quality.checkpoint import quiet_gx

# Every stage that opens a database connection builds its parameters with the Postgres
# provider's hook (``syncgate.db.connect``): importing the provider costs ~0.1 s once per process.
_CONNECTIONS = ("psycopg", "airflow.providers.postgres.hooks.postgres")

STAGE_LIBRARIES: dict[str, tuple[str, ...]] = {
    "extract": (
        *_CONNECTIONS,
        "pyarrow",
        "pyarrow.compute",
        "pyarrow.csv",
        "pyarrow.parquet",
    ),
    "transform": ("pyarrow", "pyarrow.compute", "pyarrow.parquet"),
    "load": (*_CONNECTIONS, "numpy", "pyarrow", "pyarrow.compute", "pyarrow.csv", "pyarrow.parquet"),
    "verify": (*_CONNECTIONS, "sqlalchemy", "sqlalchemy.dialects.postgresql.psycopg", "great_expectations"),
    "promote": (*_CONNECTIONS, "jinja2"),
}


def import_libraries(stage: str, *, extra: tuple[str, ...] = ()) -> float:
    """Import what ``stage`` uses, plus ``extra`` (what the flow's source or target reads
    with: ``Source.libraries``, ``Target.libraries``); returns the seconds it took (about 0
    once imported)."""
    started = time.monotonic()
    if stage == "verify":
        quiet_gx()  # GX logs hundreds of INFO lines while importing
    for name in STAGE_LIBRARIES[stage] + extra:
        importlib.import_module(name)
    _freeze_startup_objects()
    return time.monotonic() - started


_frozen = False


def _freeze_startup_objects() -> None:
    """Move what start-up created (Airflow, the libraries: ~150k-370k objects) out of the cyclic
    GC's reach, once per process.

    Each full collection walked all of them: 0.1-0.2 s, about once per stage, which was half of
    the 1% incremental's verify. One collection first (counted as start-up) clears what is
    already garbage; the rest lives as long as the task process anyway, and objects created
    later are collected as usual.
    """
    global _frozen
    if not _frozen:
        gc.collect()  # garbage pending now would be frozen with the rest, its finalizers never run
        gc.freeze()
        _frozen = True
