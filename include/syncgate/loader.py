"""Every syncgate DAG from one file: what an Airflow deployment that installed the wheel puts in
its DAG folder (docs/installing.md)::

    from syncgate.loader import load_all

    globals().update(load_all())  # or load_all("/srv/flows") when SYNCGATE_FLOWS_DIR is unset

A project checkout's ``dags/`` does the same in two files (``syncgate_flows.py`` and
``syncgate_monitor.py``); both call the same builders as this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from syncgate import settings
from syncgate.dag_factory import INVALID_SPECS_DAG_ID, build_dags, failing_placeholder
from syncgate.errors import SpecError
from syncgate.observe.monitor_dag import MONITOR_DAG_ID, build_monitor_dag

if TYPE_CHECKING:
    from airflow.sdk import DAG

FLOWS_VARIABLE = "SYNCGATE_FLOWS_DIR"


def load_all(flows_dir: str | os.PathLike[str] | None = None) -> dict[str, DAG]:
    """One DAG per flow spec in the flows folder plus the freshness and alert monitor, by DAG id.

    The folder is ``SYNCGATE_FLOWS_DIR``, or ``flows_dir`` (an absolute path) when the variable
    is unset, or ``flows/`` in Airflow's DAG folder. Contradicting the variable raises
    ``SpecError`` (an import error of the loader file). A missing folder, an invalid spec or an
    invalid defaults file is a DAG import error naming it; every valid flow still loads.
    """
    if flows_dir is not None:
        settings.use_flows_dir(_checked(Path(os.fspath(flows_dir)).expanduser()))
    folder = settings.flows_dir()
    if not folder.is_dir():
        problem = (
            f"the flows folder does not exist: create it, or point {FLOWS_VARIABLE} "
            "(or the loader's flows_dir argument) at the folder holding your flow specs"
        )
        return {
            INVALID_SPECS_DAG_ID: failing_placeholder(
                INVALID_SPECS_DAG_ID, [SpecError(str(folder), [problem])]
            )
        }
    dags = build_dags(folder)
    try:
        dags[MONITOR_DAG_ID] = build_monitor_dag()
    except SpecError as error:  # a bad defaults file: the flows still sync (alerts do not gate data)
        dags[MONITOR_DAG_ID] = failing_placeholder(MONITOR_DAG_ID, [error])
    return dags


def _checked(folder: Path) -> Path:
    if not folder.is_absolute():
        raise SpecError(
            str(folder),
            ["the loader's flows_dir must be an absolute path, e.g. Path(__file__).parent / 'flows'"],
        )
    configured = os.environ.get(FLOWS_VARIABLE)
    if configured and Path(configured).expanduser().resolve() != folder.resolve():
        # The API server (the UI) and the CLI read only the variable: one folder for everyone.
        raise SpecError(
            str(folder),
            [f"the loader's flows_dir contradicts {FLOWS_VARIABLE}={configured}: set one or make them agree"],
        )
    return folder
