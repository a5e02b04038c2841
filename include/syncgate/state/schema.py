"""DDL of the ``syncgate`` schema in each target database, as numbered migration steps.

``STEPS`` is the schema's history: step 1 is the baseline (the DDL syncgate used to run at
every task start; idempotent, so it also adopts and upgrades a state schema made by an older
syncgate), each later step one change. A step, once released, is never edited: a new table,
column or constraint is a new ``Migration`` appended to ``STEPS``. ``state/migrations.py``
applies them; tasks only check the recorded version (``ensure_state_schema``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncgate.state.migrations import Migration, ensure_current

if TYPE_CHECKING:
    import psycopg

STATE_SCHEMA = "syncgate"
STAGING_SCHEMA = "syncgate_staging"
MIRROR_SCHEMA = "syncgate_mirror"

# Migration 1, the baseline: frozen (a change here would never reach a database at version 1).
_DDL = """
CREATE SCHEMA IF NOT EXISTS syncgate;
CREATE SCHEMA IF NOT EXISTS syncgate_staging;
CREATE TABLE IF NOT EXISTS syncgate.watermarks (
    flow_id        text PRIMARY KEY,
    cursor_column  text NOT NULL,
    value          text,
    boundary_keys  jsonb NOT NULL DEFAULT '[]'::jsonb,
    batch_id       text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN syncgate.watermarks.value IS
    'Newest cursor value promoted (text form); the next run reads rows at or after it.';
COMMENT ON COLUMN syncgate.watermarks.boundary_keys IS
    'Primary keys of the promoted rows whose cursor equals value: skipped by the next run.';
CREATE TABLE IF NOT EXISTS syncgate.sync_runs (
    flow_id              text NOT NULL,
    run_id               text NOT NULL,
    run_type             text,
    batch_id             text,
    status               text NOT NULL,
    window_from          text,
    window_to            text,
    watermark_before     text,
    watermark_after      text,
    rows_extracted       bigint,
    rows_inserted        bigint,
    rows_updated         bigint,
    rows_deleted         bigint,
    rows_rejected        bigint,
    bytes_landed         bigint,
    extract_seconds      double precision,
    transform_seconds    double precision,
    load_seconds         double precision,
    verify_seconds       double precision,
    promote_seconds      double precision,
    staging_table        text,
    quality_verdict      text,
    quality_report       text,
    failed_expectations  jsonb,
    error                text,
    started_at           timestamptz NOT NULL DEFAULT now(),
    finished_at          timestamptz,
    PRIMARY KEY (flow_id, run_id),
    CONSTRAINT sync_runs_status CHECK (status IN ('running', 'success', 'rejected', 'failed'))
);
CREATE INDEX IF NOT EXISTS sync_runs_flow_started ON syncgate.sync_runs (flow_id, started_at DESC);
-- Added after the first release: ADD COLUMN IF NOT EXISTS upgrades existing state schemas in place.
ALTER TABLE syncgate.sync_runs
    ADD COLUMN IF NOT EXISTS bytes_wire        bigint,
    ADD COLUMN IF NOT EXISTS bytes_decoded     bigint,
    ADD COLUMN IF NOT EXISTS schema_changes    jsonb,
    ADD COLUMN IF NOT EXISTS rows_pushed       bigint,
    ADD COLUMN IF NOT EXISTS rows_push_failed  bigint,
    ADD COLUMN IF NOT EXISTS high_water_mark   text,
    ADD COLUMN IF NOT EXISTS lag_seconds       double precision,
    ADD COLUMN IF NOT EXISTS freshness_status  text,
    ADD COLUMN IF NOT EXISTS conflicts         jsonb;
-- Issue 12: what started the run (wal+webhook, schedule, manual, ...) and how many events it covers.
ALTER TABLE syncgate.sync_runs
    ADD COLUMN IF NOT EXISTS triggered_by      text,
    ADD COLUMN IF NOT EXISTS trigger_events    integer;
CREATE TABLE IF NOT EXISTS syncgate.rejected_records (
    id          bigserial PRIMARY KEY,
    flow_id     text NOT NULL,
    run_id      text NOT NULL,
    batch_id    text,
    stage       text NOT NULL,
    record_key  jsonb,
    reason      text NOT NULL,
    record      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN syncgate.rejected_records.stage IS
    'Where the record was refused: extract (could not be coerced) or push (the target API said no).';
CREATE INDEX IF NOT EXISTS rejected_records_flow ON syncgate.rejected_records (flow_id, created_at DESC);
-- HTTP targets: what each API has accepted (one table per flow, created by its first push) and
-- the planned changes of a batch with their push progress.
CREATE SCHEMA IF NOT EXISTS syncgate_mirror;
CREATE TABLE IF NOT EXISTS syncgate.push_batches (
    flow_id      text NOT NULL,
    batch_id     text NOT NULL,
    run_id       text NOT NULL,
    status       text NOT NULL DEFAULT 'pushing',
    planned_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    PRIMARY KEY (flow_id, batch_id),
    CONSTRAINT push_batches_status CHECK (status IN ('pushing', 'finished'))
);
CREATE TABLE IF NOT EXISTS syncgate.push_changes (
    flow_id          text NOT NULL,
    batch_id         text NOT NULL,
    seq              bigint NOT NULL,
    op               text NOT NULL,
    record_key       jsonb NOT NULL,
    api_id           text,
    body             jsonb,
    record           jsonb,
    row_hash         text,
    cursor_value     jsonb,
    idempotency_key  text NOT NULL,
    status           text NOT NULL DEFAULT 'pending',
    http_status      integer,
    error            text,
    PRIMARY KEY (flow_id, batch_id, seq),
    FOREIGN KEY (flow_id, batch_id) REFERENCES syncgate.push_batches ON DELETE CASCADE,
    CONSTRAINT push_changes_op CHECK (op IN ('create', 'update', 'delete')),
    CONSTRAINT push_changes_status CHECK (status IN ('pending', 'done', 'rejected'))
);
COMMENT ON TABLE syncgate.push_changes IS
    'Change set of a batch pushed to an HTTP target; rows are removed when the batch finishes.';
CREATE TABLE IF NOT EXISTS syncgate.freshness (
    flow_id           text NOT NULL,
    checked_at        timestamptz NOT NULL DEFAULT now(),
    checked_by        text NOT NULL,
    run_id            text,
    high_water_mark   timestamptz,
    lag_seconds       double precision,
    max_age_seconds   double precision,
    warn_age_seconds  double precision,
    status            text NOT NULL,
    PRIMARY KEY (flow_id, checked_at, checked_by),
    CONSTRAINT freshness_checked_by CHECK (checked_by IN ('promote', 'monitor')),
    CONSTRAINT freshness_status CHECK (status IN ('ok', 'warn', 'breach', 'unknown'))
);
CREATE TABLE IF NOT EXISTS syncgate.incidents (
    id                bigserial PRIMARY KEY,
    flow_id           text NOT NULL,
    kind              text NOT NULL,
    severity          text NOT NULL,
    status            text NOT NULL DEFAULT 'open',
    summary           text NOT NULL,
    details           jsonb NOT NULL DEFAULT '{}'::jsonb,
    opened_at         timestamptz NOT NULL DEFAULT now(),
    last_notified_at  timestamptz,
    notify_count      integer NOT NULL DEFAULT 0,
    resolved_at       timestamptz,
    CONSTRAINT incidents_status CHECK (status IN ('open', 'resolved')),
    CONSTRAINT incidents_kind CHECK (kind IN ('freshness', 'failures', 'lag_spike', 'duration_spike'))
);
COMMENT ON TABLE syncgate.incidents IS 'Alert incidents: at most one open per flow and kind (de-duplication).';
CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_open ON syncgate.incidents (flow_id, kind) WHERE status = 'open';
-- wal flows: a replication slot holding back too much WAL (observe/retained_wal.py). Replaced
-- only when it lacks the kind: re-adding it every time would lock and scan the table.
DO $$ BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint WHERE conrelid = 'syncgate.incidents'::regclass
        AND conname = 'incidents_kind' AND pg_get_constraintdef(oid) LIKE '%retained_wal%'
    ) THEN
        ALTER TABLE syncgate.incidents DROP CONSTRAINT IF EXISTS incidents_kind;
        ALTER TABLE syncgate.incidents ADD CONSTRAINT incidents_kind
            CHECK (kind IN ('freshness', 'failures', 'lag_spike', 'duration_spike', 'retained_wal'));
    END IF;
END $$;
-- UI health page: each flow's last success is one index probe, however many failed runs came after.
CREATE INDEX IF NOT EXISTS sync_runs_flow_success ON syncgate.sync_runs (flow_id, finished_at DESC)
    WHERE status = 'success';
-- A recovery notice is owed once an incident that was notified resolves: retried until delivered.
ALTER TABLE syncgate.incidents ADD COLUMN IF NOT EXISTS resolution_notified_at timestamptz;
CREATE TABLE IF NOT EXISTS syncgate.source_schemas (
    flow_id     text PRIMARY KEY,
    fields      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE syncgate.source_schemas IS
    'Last-seen schema of schemaless (HTTP) sources: field -> JSON kind and landed type; drift reference.';
CREATE TABLE IF NOT EXISTS syncgate.batch_verdicts (
    flow_id        text NOT NULL,
    batch_id       text NOT NULL,
    run_id         text NOT NULL,
    passed         boolean NOT NULL,
    reason         text,
    staging_table  text NOT NULL,
    digest         jsonb NOT NULL,
    checked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow_id, batch_id)
);
COMMENT ON TABLE syncgate.batch_verdicts IS
    'Quality gate verdict per staged batch, with a digest of the staged tables it checked: promote '
    'and push refuse a batch without a passing verdict, or whose staged tables changed since.';
CREATE TABLE IF NOT EXISTS syncgate.sync_records (
    flow_id     text NOT NULL,
    record_key  text NOT NULL,
    merged      jsonb,
    origins     jsonb NOT NULL DEFAULT '{}'::jsonb,
    run_id      text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow_id, record_key)
);
COMMENT ON TABLE syncgate.sync_records IS
    'Two-way and multi-way flows: the last merged version of each record (the three-way merge base; '
    'merged NULL = deleted), and where each field''s value came from (side, change time).';
CREATE TABLE IF NOT EXISTS syncgate.sync_ledger (
    flow_id     text NOT NULL,
    side        text NOT NULL,
    record_key  text NOT NULL,
    side_key    jsonb,
    known       jsonb,
    parked      jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow_id, side, record_key)
);
CREATE INDEX IF NOT EXISTS sync_ledger_side_key_idx ON syncgate.sync_ledger (flow_id, side, side_key);
COMMENT ON TABLE syncgate.sync_ledger IS
    'Echo ledger and cross-reference: per side and record, the side''s own key and what syncgate last '
    'read from or wrote to it (known NULL = the side does not hold it); a changed value that equals '
    'it is syncgate''s own write coming back, not an edit.';
CREATE TABLE IF NOT EXISTS syncgate.sync_pending (
    flow_id     text NOT NULL,
    side        text NOT NULL,
    record_key  text NOT NULL,
    run_id      text NOT NULL,
    PRIMARY KEY (flow_id, side, record_key)
);
COMMENT ON TABLE syncgate.sync_pending IS
    'Records a side has still to receive (its apply failed, was refused by the gate, or was skipped '
    'because the record changed there meanwhile): merged again by the next run.';
CREATE TABLE IF NOT EXISTS syncgate.sync_conflicts (
    id           bigserial PRIMARY KEY,
    flow_id      text NOT NULL,
    run_id       text NOT NULL,
    record_key   text NOT NULL,
    field        text NOT NULL,
    base_value   jsonb,
    side_values  jsonb NOT NULL,
    rule         text NOT NULL,
    winner       text,
    value        jsonb,
    status       text NOT NULL CHECK (status IN ('resolved', 'parked')),
    detected_at  timestamptz NOT NULL DEFAULT now(),
    resolution   text,
    resolved_by  text,
    resolved_at  timestamptz,
    UNIQUE (flow_id, run_id, record_key, field)
);
CREATE INDEX IF NOT EXISTS sync_conflicts_parked_idx ON syncgate.sync_conflicts (flow_id, record_key)
    WHERE status = 'parked';
COMMENT ON TABLE syncgate.sync_conflicts IS
    'Every conflict of a two-way or multi-way flow, resolved by its rule or parked for a person; '
    'values of pii fields are keyed hashes. resolution = the side a person chose for a parked one.';
CREATE TABLE IF NOT EXISTS syncgate.flow_events (
    id           bigserial PRIMARY KEY,
    flow_id      text NOT NULL,
    trigger      text NOT NULL CHECK (trigger IN ('webhook', 'postgres_notify', 'wal')),
    outcome      text NOT NULL CHECK (outcome IN ('accepted', 'duplicate', 'refused', 'fired')),
    event_id     text,
    reason       text,
    events       integer,
    received_at  timestamptz NOT NULL DEFAULT now(),
    fired_at     timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS flow_events_webhook_id ON syncgate.flow_events (flow_id, event_id)
    WHERE outcome = 'accepted';
CREATE INDEX IF NOT EXISTS flow_events_flow_newest ON syncgate.flow_events (flow_id, id DESC);
COMMENT ON TABLE syncgate.flow_events IS
    'Signals that start event-driven runs: accepted webhooks (webhook-id de-duplicated while kept), '
    'duplicates, refusals with the reason, and each trigger firing with how many signals it covered.';
"""


# Migration 2 (issue 14): when syncgate first saw each flow. A flow that has never promoted is
# pending, not late, until its first-sync grace has passed since then (observe/first_sync.py).
# Flows that ran before this step count as seen at their first recorded run.
_FIRST_SEEN = """
CREATE TABLE syncgate.flow_first_seen (
    flow_id        text PRIMARY KEY,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    seen_by        text NOT NULL,
    CONSTRAINT flow_first_seen_by CHECK (seen_by IN ('monitor', 'audit'))
);
COMMENT ON TABLE syncgate.flow_first_seen IS
    'When syncgate first saw each flow (the monitor records new flows): a flow that never promoted '
    'is pending, not late, until its first-sync grace has passed since then.';
INSERT INTO syncgate.flow_first_seen (flow_id, first_seen_at, seen_by)
SELECT flow_id, min(started_at), 'audit' FROM syncgate.sync_runs GROUP BY flow_id;
"""

# Migration 3 (issue 13): batch fencing (syncgate/batch/fence.py). Every read takes the next
# number of its flow's sequence; promote refuses a batch numbered below the newest promoted one.
_BATCH_FENCES = """
CREATE TABLE IF NOT EXISTS syncgate.batch_fences (
    flow_id     text PRIMARY KEY,
    taken       bigint NOT NULL DEFAULT 0,
    promoted    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE syncgate.batch_fences IS
    'Per flow (and per side of a sync flow): the last batch number a read took, and the newest whose '
    'data was promoted; promote refuses a batch numbered below it (an older snapshot after a newer one).';
"""

# Migration 4 (issue 13): target ownership (state/target_owners.py). The first flow to promote
# into a target owns it; another flow's promote is refused until the target is released.
_TARGET_OWNERS = """
CREATE TABLE IF NOT EXISTS syncgate.target_owners (
    target      text PRIMARY KEY,
    flow_id     text NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE syncgate.target_owners IS
    'The flow that owns each target (table:<schema>.<name> in this database, or an asset URI), '
    'recorded at its first promote: another flow''s promote into it is refused until released '
    '(python -m syncgate targets release).';
"""

# Migration 5 (issue 13): run leases (state/leases.py). A 'running' run whose lease expired is
# dead; the flow's next run (and the monitor) mark it failed and remove its leftovers.
_RUN_LEASES = """
-- The task running a stage renews lease_expires_at (heartbeat_at = its last renewal, state/leases.py);
-- a 'running' run whose lease has expired is dead (kill -9, a lost worker, a restarted database):
-- the flow's next run marks it failed and removes its staging tables and landed files.
ALTER TABLE syncgate.sync_runs
    ADD COLUMN IF NOT EXISTS heartbeat_at      timestamptz,
    ADD COLUMN IF NOT EXISTS lease_expires_at  timestamptz;
"""

# Migration 6 (issue 12): overlapping runs of an event-driven flow. A watermark remembers the
# batch number of the read that set it, so a newer read (whose window starts at or before it)
# may still promote after an older one moved it; a batch overtaken by a newer promoted one ends
# 'superseded' (the newer batch carries all of its changes), neither failed nor written.
_OVERLAPPING_RUNS = """
ALTER TABLE syncgate.watermarks ADD COLUMN IF NOT EXISTS sequence bigint;
COMMENT ON COLUMN syncgate.watermarks.sequence IS
    'the batch number (syncgate.batch_fences) of the read whose promote set this watermark; '
    'NULL when set otherwise (by hand, or before batch numbers existed)';
-- Every promote writes its own batch number with the value it moves to; a value changed with
-- the number kept was set by hand (a reset to replay a range): the number no longer vouches for
-- it, so a batch in flight is refused rather than undoing the reset.
CREATE OR REPLACE FUNCTION syncgate.watermark_set_by_hand() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.value IS DISTINCT FROM OLD.value AND NEW.sequence IS NOT DISTINCT FROM OLD.sequence THEN
        NEW.sequence := NULL;
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS watermark_set_by_hand ON syncgate.watermarks;
CREATE TRIGGER watermark_set_by_hand BEFORE UPDATE ON syncgate.watermarks
    FOR EACH ROW EXECUTE FUNCTION syncgate.watermark_set_by_hand();
ALTER TABLE syncgate.sync_runs DROP CONSTRAINT IF EXISTS sync_runs_status;
ALTER TABLE syncgate.sync_runs ADD CONSTRAINT sync_runs_status
    CHECK (status IN ('running', 'success', 'rejected', 'failed', 'superseded'));
"""

# Migration 7 (issue 13): HTTP pushes are fenced like promotes. A push records its batch's number
# when it plans: from then on its changes may reach the API, so an older batch must not plan
# after it, nor may an abandoned older push send its remaining changes after it (they are
# settled 'superseded', the changes already confirmed stay in the mirror). A backfill's batch
# fences the flow's older scheduled batches too (batch_fences.backfilled): their key sets predate
# what the backfill brought, and their hard deletes would remove it for good.
_PUSH_FENCE = """
ALTER TABLE syncgate.batch_fences ADD COLUMN IF NOT EXISTS backfilled bigint;
COMMENT ON COLUMN syncgate.batch_fences.backfilled IS
    'the newest number of a backfill batch that promoted (or pushed): a scheduled batch read before it '
    'is refused (superseded); backfill batches do not fence each other';
ALTER TABLE syncgate.push_batches
    ADD COLUMN IF NOT EXISTS sequence  bigint,
    ADD COLUMN IF NOT EXISTS backfill  boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN syncgate.push_batches.sequence IS
    'the batch number (syncgate.batch_fences) of the planned batch; NULL for plans made before it was '
    'recorded. A batch numbered below a newer planned (not backfill) or promoted one never sends again';
COMMENT ON COLUMN syncgate.push_batches.backfill IS
    'a backfill run''s batch: its plan does not fence other batches (as its promote does not)';
-- A push planned before its number was recorded and not finished: it counts as the newest read
-- so far, so no batch read before the upgrade plans after it (superseding one is safe: its
-- watermark stays and the next run reads again).
UPDATE syncgate.push_batches AS p SET sequence = f.taken
    FROM syncgate.batch_fences AS f
    WHERE p.status = 'pushing' AND p.sequence IS NULL AND f.flow_id = p.flow_id;
ALTER TABLE syncgate.push_batches DROP CONSTRAINT IF EXISTS push_batches_status;
ALTER TABLE syncgate.push_batches ADD CONSTRAINT push_batches_status
    CHECK (status IN ('pushing', 'finished', 'superseded'));
"""

# The state schema's history, oldest first. Append a step; never edit or renumber one.
STEPS: tuple[Migration, ...] = (
    Migration(1, "baseline: the state schema of syncgate before versioned migrations", _DDL),
    Migration(2, "flow_first_seen: when syncgate first saw each flow (first-sync grace)", _FIRST_SEEN),
    Migration(
        3, "batch_fences: each flow's batch numbers taken and promoted (promote fencing)", _BATCH_FENCES
    ),
    Migration(4, "target_owners: the flow that owns each target (one writer per target)", _TARGET_OWNERS),
    Migration(5, "run leases: heartbeat_at and lease_expires_at of sync_runs (dead runs)", _RUN_LEASES),
    Migration(
        6,
        "overlapping runs: watermarks.sequence, and the 'superseded' status of sync_runs",
        _OVERLAPPING_RUNS,
    ),
    Migration(
        7,
        "push fence: push_batches.sequence and backfill, the 'superseded' status of a push, and "
        "batch_fences.backfilled",
        _PUSH_FENCE,
    ),
)


def ensure_state_schema(conn: psycopg.Connection[Any]) -> None:
    """Make sure the state schema is current: one read when it is (no DDL, no table lock).

    An empty or older state database is migrated under an advisory lock (concurrent callers
    wait for the first one and find the work done); deployments run ``python -m syncgate state
    migrate`` beforehand so tasks never have to.

    Raises:
        StateSchemaTooNew: a newer syncgate migrated the database; it is left untouched.
    """
    ensure_current(conn, STEPS)
