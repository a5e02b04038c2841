"""Records an HTTP extract could not coerce: stored in ``syncgate.rejected_records``, counted,
and failing the run only when the spec's ``rejects`` policy says so.

Stored records have their hashed (PII) fields masked; reasons name the field and the expected
type, never the value.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from syncgate.connectors.http.spec import HttpSource
from syncgate.spec.model import FlowSpec

log = logging.getLogger(__name__)


def reject_failure(spec: FlowSpec, count: int) -> str | None:
    """The error that fails the run under the spec's ``rejects`` policy, or None."""
    policy = cast(HttpSource, spec.source).rejects
    if count == 0:
        return None
    if policy.fail_run or (policy.max_rejected is not None and count > policy.max_rejected):
        limit = "any" if policy.fail_run else f"more than {policy.max_rejected}"
        return (
            f"flow {spec.id!r}: {count} record(s) could not be coerced to their column types and the spec "
            f"fails the run on {limit}; see syncgate.rejected_records (stage 'extract') for the reasons"
        )
    return None


def record_rejects(
    conn: Any, flow_id: str, run_id: str, batch_id: str, rejected: list[dict[str, Any]]
) -> None:
    """Replace this run's extract rejects (a rerun of the run must not double them)."""
    from psycopg.types.json import Jsonb

    conn.execute(
        "DELETE FROM syncgate.rejected_records WHERE flow_id = %s AND run_id = %s AND stage = 'extract'",
        (flow_id, run_id),
    )
    if not rejected:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO syncgate.rejected_records (flow_id, run_id, batch_id, stage, record_key, reason, record) "
            "VALUES (%s, %s, %s, 'extract', %s, %s, %s)",
            [
                (flow_id, run_id, batch_id, Jsonb(r["record_key"]), r["reason"], Jsonb(r["record"]))
                for r in rejected
            ],
        )
    log.warning(
        "Flow %s: %d record(s) rejected at extract (syncgate.rejected_records)", flow_id, len(rejected)
    )
