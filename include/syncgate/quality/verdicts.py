"""The quality gate's verdict on one staged batch, enforced where the batch is applied.

The DAG edge verify -> promote is not enough: a user can mark a rejected verify as success in
the UI, or clear tasks, and the staged tables can be written to after verify passed them. So:

- verify seals the staged tables while GX reads them (``sealed``), then records its verdict
  with a digest of exactly those tables (``record``, table ``syncgate.batch_verdicts``);
- promote and push (``syncgate.batch.settle``) apply a batch only when it has a passing verdict and its staged tables
  still match the digest (``require_passing``); otherwise they raise ``FatalError`` and
  change nothing;
- a promote that received no batch from verify (it produced no result) repeats the outcome of
  a run that already committed, or refuses with the reason (``without_manifest``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncgate.db.connect import connect
from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError, RetriableError
from syncgate.quality import digest

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

# How long verify waits for a session writing to the staged tables before it gives up.
SEAL_LOCK_TIMEOUT = "60s"
_COUNTS = ("rows_inserted", "rows_updated", "rows_deleted")


@dataclass
class Seal:
    """The staged tables, locked against writers while the gate reads them."""

    tables: list[TableRef]
    rows: dict[str, int] = field(default_factory=dict)  # row counts the gate observed
    digest: dict[str, Any] | None = None  # set when the seal ends

    def observed(self, results: list[dict[str, Any]]) -> None:
        """Take the staged row count from syncgate's built-in row count check (saves a scan).

        Only that check counts the whole table: a spec's own row count expectation may carry a
        ``row_condition`` and count a subset, which must never stand for the table's size.
        """
        for result in results:
            observed = result.get("observed_value")
            builtin = (result.get("meta") or {}).get("syncgate") == "builtin"
            whole_table = not (result.get("kwargs") or {}).get("row_condition")
            if (
                result.get("type") == "expect_table_row_count_to_equal"
                and builtin
                and whole_table
                and isinstance(observed, int)
                and not isinstance(observed, bool)
            ):
                self.rows[str(self.tables[0])] = observed


@contextmanager
def sealed(conn_id: str, tables: list[TableRef]) -> Iterator[Seal]:
    """Hold a SHARE lock on ``tables`` for the block, then digest them before it is released.

    Readers (GX) go on; writers wait, so what the block reads is what the digest describes.
    """
    import psycopg

    seal = Seal(tables)
    with connect(conn_id) as conn:
        conn.execute(f"SET LOCAL lock_timeout = '{SEAL_LOCK_TIMEOUT}'")
        try:
            digest.lock_tables(conn, tables)
        except psycopg.errors.LockNotAvailable:
            names = ", ".join(map(str, tables))
            raise RetriableError(
                f"another session is writing to the staged batch ({names}); it was not verified"
            ) from None
        yield seal
        seal.digest = digest.take(conn, tables, seal.rows)
        conn.rollback()  # releases the lock; nothing was written


def record(
    conn: psycopg.Connection[Any],
    flow_id: str,
    run_id: str,
    batch_id: str,
    seal: Seal,
    *,
    passed: bool,
    reason: str | None = None,
) -> None:
    """Record the gate's verdict on the sealed batch (in the caller's transaction).

    Verdicts of this flow whose staged table is gone (promoted or dropped) are pruned.
    """
    from psycopg.types.json import Jsonb

    assert seal.digest is not None, "record the verdict after the seal ended"
    conn.execute(
        "INSERT INTO syncgate.batch_verdicts "
        "(flow_id, batch_id, run_id, passed, reason, staging_table, digest) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (flow_id, batch_id) DO UPDATE SET "
        "run_id = EXCLUDED.run_id, passed = EXCLUDED.passed, reason = EXCLUDED.reason, "
        "staging_table = EXCLUDED.staging_table, digest = EXCLUDED.digest, checked_at = now()",
        (flow_id, batch_id, run_id, passed, reason, str(seal.tables[0]), Jsonb(seal.digest)),
    )
    conn.execute(
        "DELETE FROM syncgate.batch_verdicts WHERE flow_id = %s AND batch_id <> %s "
        "AND to_regclass(staging_table) IS NULL",
        (flow_id, batch_id),
    )


def read(conn: psycopg.Connection[Any], flow_id: str, batch_id: str) -> dict[str, Any] | None:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM syncgate.batch_verdicts WHERE flow_id = %s AND batch_id = %s", (flow_id, batch_id)
        ).fetchone()


def require_passing(
    conn: psycopg.Connection[Any], flow_id: str, batch_id: str, tables: list[TableRef]
) -> None:
    """Raise ``FatalError`` unless the batch passed the gate and its staged tables are unchanged.

    Call it inside the transaction that then reads ``tables``: it locks them against writers
    until that transaction ends.
    """
    found = read(conn, flow_id, batch_id)
    refused = f"batch {batch_id} of flow {flow_id!r}"
    unchanged = "nothing was applied; target and watermark are unchanged"
    if found is None:
        raise FatalError(
            f"{refused} has no quality verdict: verify did not check it (was verify marked success "
            f"or cleared?); {unchanged}. Clear verify and promote to check this batch, or rerun the flow"
        )
    if not found["passed"]:
        raise FatalError(
            f"{refused} has no passing quality verdict (verify rejected it: {found['reason']}); "
            f"{unchanged}. Fix the data and rerun the flow"
        )
    recorded = [t["table"] for t in found["digest"]["tables"]]
    if recorded != [str(t) for t in tables]:
        raise FatalError(
            f"{refused} was verified on {', '.join(recorded)}, not on {', '.join(map(str, tables))}; "
            f"{unchanged}. Clear verify and promote to check it again, or rerun the flow"
        )
    present = [t for t in tables if digest.table_state(conn, t) is not None]
    if present:
        digest.lock_tables(conn, present)
    changed = digest.differences(conn, found["digest"])
    if changed:
        raise FatalError(
            f"{refused} changed after verify passed it: {changed}; {unchanged}. "
            "Clear verify and promote to check the batch again, or rerun the flow"
        )
    log.info("Batch %s of flow %s has a passing quality verdict and is unchanged", batch_id, flow_id)


def without_manifest(conn_id: str, flow_id: str, run_id: str) -> dict[str, int]:
    """Promote without a batch from verify: the counts of a run that already committed, else
    a ``FatalError`` saying why there is nothing to promote."""
    from syncgate.state import audit

    with connect(conn_id) as conn:
        run = audit.read_run(conn, flow_id, run_id)
        found = read(conn, flow_id, run["batch_id"]) if run and run["batch_id"] else None
    if run is not None and run["status"] in ("success", "superseded"):  # settled: a newer batch carries it
        log.info(
            "Run %s of flow %s already settled its batch (%s): nothing to do", run_id, flow_id, run["status"]
        )
        return {k: int(run.get(k) or 0) for k in _COUNTS}
    why = f"promote of flow {flow_id!r} received no batch: its verify task produced no result"
    unchanged = "nothing was applied; target and watermark are unchanged"
    if run is None or not run["batch_id"]:
        raise FatalError(f"{why} and run {run_id} staged no batch; {unchanged}. Rerun the flow")
    batch = run["batch_id"]
    if found is None:
        verdict = "no quality verdict (verify did not check it)"
    elif not found["passed"]:
        verdict = f"no passing quality verdict (verify rejected it: {found['reason']})"
    else:
        verdict = "a passing verdict, but verify's result (the batch manifest) is missing"
    raise FatalError(
        f"{why} (was it marked success by hand?). Batch {batch} of run {run_id} has {verdict}; "
        f"{unchanged}. Rerun the flow, or clear verify and promote to check the batch again"
    )
