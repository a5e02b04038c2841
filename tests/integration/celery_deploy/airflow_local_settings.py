"""Airflow cluster policy of the distributed test's deployment (on the components' PYTHONPATH).

Each stage of a flow's fixed shape is sent to the other Celery queue than the stage before it,
and each worker consumes one queue: every hand-off between a run's tasks crosses workers, so a
stage that read what the previous one left on local disk would fail. (With both workers on one
queue Celery may hand a whole run to one worker, and prove nothing.)
"""

from __future__ import annotations

from typing import Any

SHAPE = ("extract", "transform", "load", "verify", "promote")
QUEUES = ("syncgate_even", "syncgate_odd")


def task_policy(task: Any) -> None:
    if task.task_id in SHAPE:
        task.queue = QUEUES[SHAPE.index(task.task_id) % 2]
