"""The event triggers the Airflow triggerer runs for a flow's asset watchers.

Each is long-lived: the triggerer keeps iterating ``run()`` after an event. A trigger gathers
*signals* (a webhook accepted, a NOTIFY, pending WAL) from a background task, and turns the
signals of one ``debounce`` window - counted from the first - into one ``TriggerEvent``, so a
burst becomes one run. Signals that arrive while the triggerer handles an event open the next
window: none is dropped.

On arm (and after a lost connection) each fires a catch-up event when something may have been
missed: webhook, accepted events not fired yet; notify, always (a NOTIFY sent while nobody
listened is gone); wal, changes pending in the slot.

Constructors store, ``run`` does: the kwargs are JSON values (Airflow hashes classpath + kwargs
to tell whether a watcher's trigger changed), and the connections are opened in ``run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from syncgate.events.signals import Signals

log = logging.getLogger(__name__)

# A lost connection is retried after 1, 2, 4 ... seconds, at most this long apart.
MAX_BACKOFF_SECONDS = 30.0
LISTEN_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
# A slot that holds this much WAL past its confirmed position fires a run even when none of it
# is the flow's table: the run confirms the slot, so the source can free that WAL and each
# pending check decodes a bounded amount.
RETAINED_FIRE_BYTES = 64 * 1024 * 1024
# Changes still in the slot this long after the firing that announced them: fire again (the
# DAG was paused, or its run failed), then after twice as long, up to the maximum.
REFIRE_FIRST_SECONDS = 30.0
REFIRE_MAX_SECONDS = 300.0


class _FlowEventTrigger(BaseEventTrigger):  # type: ignore[misc]
    """What the three triggers share: the debounce loop, the payload, the firing record."""

    trigger_type = ""

    def __init__(self, *, flow_id: str, state_conn_id: str, debounce: float) -> None:
        super().__init__()
        self.flow_id = flow_id
        self.state_conn_id = state_conn_id
        self.debounce = float(debounce)
        self._schema_ready = False

    def _kwargs(self) -> dict[str, Any]:
        return {"flow_id": self.flow_id, "state_conn_id": self.state_conn_id, "debounce": self.debounce}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"syncgate.events.triggers.{type(self).__name__}", self._kwargs()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        signals = Signals()
        producer = asyncio.create_task(self._produce(signals), name=f"{self.flow_id}__{self.trigger_type}")
        try:
            while True:
                await signals.wait(self.debounce, producer)
                await self._prepare()
                window = signals.take()
                events = await self._before_firing(window.count)
                if events is None:
                    continue
                yield TriggerEvent(
                    {
                        "flow_id": self.flow_id,
                        "trigger": self.trigger_type,
                        "events": events,
                        "first_at": window.first_at.isoformat(),
                        "last_at": window.last_at.isoformat(),
                    }
                )
                await self._after_firing(events)
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer

    async def _produce(self, signals: Signals) -> None:
        """Add signals for as long as the trigger runs (reconnecting on its own)."""
        raise NotImplementedError

    async def _prepare(self) -> None:
        """Runs before the window is taken: signals still count as pending meanwhile."""

    async def _before_firing(self, signals: int) -> int | None:
        """How many events the firing covers (after the window is taken), or None for no firing."""
        return signals

    async def _after_firing(self, events: int) -> None:
        await self._record_fired(events)

    def _state(self) -> Any:
        """A connection to the flow's state database (run in a worker thread).

        The triggerer may arm a watcher before the flow's first run created the state schema.
        """
        from syncgate.db.connect import connect
        from syncgate.state.schema import ensure_state_schema

        conn = connect(self.state_conn_id)
        if not self._schema_ready:
            try:
                ensure_state_schema(conn)
            except BaseException:
                conn.close()
                raise
            self._schema_ready = True
        return conn

    async def _record_fired(self, events: int, **extra: Any) -> None:
        """Write the firing to the flow's event log (the UI shows it); never stops the trigger."""

        def record() -> None:
            from syncgate.events import store

            with self._state() as conn:
                store.record_fired(conn, self.flow_id, self.trigger_type, events, **extra)

        try:
            await asyncio.to_thread(record)
        except Exception:
            log.exception("Flow %s: could not record a %s firing", self.flow_id, self.trigger_type)


async def _listen_forever(
    conn_id: str,
    channel: str,
    on_connected: Callable[[], Any],
    on_notify: Callable[[str], None],
    what: str,
) -> None:
    """LISTEN on ``channel`` of ``conn_id`` and call ``on_notify(payload)`` for each NOTIFY.

    ``on_connected`` runs once LISTEN is in place, on the first connection and on every
    reconnection: what was sent meanwhile can only be caught up from there. A lost connection
    is retried with backoff; the loop ends only when the task is cancelled.
    """
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from syncgate.db.connect import conninfo
    from syncgate.redact import redact

    backoff = 1.0
    while True:
        try:
            # Airflow's connection lookup is synchronous (secrets backends, the metadata DB).
            info = await asyncio.to_thread(conninfo, conn_id)
            # TCP keepalives: a NAT or balancer that silently drops an idle LISTEN connection
            # is noticed in about a minute (then reconnect + catch-up), not after the OS's 2 hours.
            info = make_conninfo(info, **LISTEN_KEEPALIVES)
            async with await psycopg.AsyncConnection.connect(info, autocommit=True) as conn:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                backoff = 1.0
                result = on_connected()
                if asyncio.iscoroutine(result):
                    await result
                async for notify in conn.notifies():
                    on_notify(notify.payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lost or refused connection: the next attempt catches up
            # libpq's reason (a refused certificate...) is what fixes a LISTEN that never connects;
            # conninfo() registered the password, so a message quoting it is redacted.
            log.warning(
                "%s: LISTEN on %r lost (%s: %s); retrying in %.0fs",
                what, conn_id, type(exc).__name__, redact(str(exc).strip()), backoff,
            )  # fmt: skip
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


class PostgresNotifyEventTrigger(_FlowEventTrigger):
    """LISTEN on a channel of the flow's source database; each NOTIFY is a signal."""

    trigger_type = "postgres_notify"

    def __init__(
        self, *, flow_id: str, state_conn_id: str, debounce: float, conn_id: str, channel: str
    ) -> None:
        super().__init__(flow_id=flow_id, state_conn_id=state_conn_id, debounce=debounce)
        self.conn_id = conn_id
        self.channel = channel

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "conn_id": self.conn_id, "channel": self.channel}

    async def _produce(self, signals: Signals) -> None:
        await _listen_forever(
            self.conn_id,
            self.channel,
            # NOTIFYs sent while nobody listened are gone: every (re)connection fires a catch-up.
            on_connected=lambda: signals.add(1),
            on_notify=lambda _payload: signals.add(1),
            what=f"flow {self.flow_id}",
        )


class WebhookEventTrigger(_FlowEventTrigger):
    """Accepted webhooks of the flow: the receiver NOTIFYs ``store.EVENTS_CHANNEL`` with the flow id.

    The count a firing reports is the accepted webhooks not fired yet (``store.unfired_webhooks``),
    which the firing then marks fired.
    """

    trigger_type = "webhook"

    def __init__(self, *, flow_id: str, state_conn_id: str, debounce: float) -> None:
        super().__init__(flow_id=flow_id, state_conn_id=state_conn_id, debounce=debounce)
        self._upto: int | None = None

    async def _produce(self, signals: Signals) -> None:
        async def catch_up() -> None:
            count, _ = await self._unfired()
            if count:
                signals.add(count)

        def on_notify(payload: str) -> None:
            if payload == self.flow_id:  # every flow of the state database shares the channel
                signals.add(1)

        from syncgate.events.store import EVENTS_CHANNEL

        await _listen_forever(
            self.state_conn_id, EVENTS_CHANNEL, catch_up, on_notify, what=f"flow {self.flow_id} webhooks"
        )

    async def _unfired(self) -> tuple[int, int | None]:
        def count() -> tuple[int, int | None]:
            from syncgate.events import store

            with self._state() as conn:
                return store.unfired_webhooks(conn, self.flow_id)

        try:
            return await asyncio.to_thread(count)
        except Exception:
            log.exception("Flow %s: could not count the webhooks not fired yet", self.flow_id)
            return 0, None

    async def _before_firing(self, signals: int) -> int | None:
        count, self._upto = await self._unfired()
        # A NOTIFY whose webhook an earlier firing already covered still fires: a run too many
        # is cheap, one too few is a change that waits for the schedule.
        return count or signals

    async def _after_firing(self, events: int) -> None:
        await self._record_fired(events, webhooks_upto=self._upto)


class WalPendingEventTrigger(_FlowEventTrigger):
    """Polls the flow's replication slot; changes beyond the last firing are a signal.

    ``capture_id`` names the slot and publication (``cdc.names``): the flow id, or for a sync
    flow's side ``<flow id>__<side>``.
    """

    trigger_type = "wal"
    poll_seconds = 0.3

    def __init__(
        self, *, flow_id: str, state_conn_id: str, debounce: float, conn_id: str, capture_id: str
    ) -> None:
        super().__init__(flow_id=flow_id, state_conn_id=state_conn_id, debounce=debounce)
        self.conn_id = conn_id
        self.capture_id = capture_id
        # Everything at or below this WAL position has been fired for; None: nothing yet, so
        # whatever the slot holds on arm is a catch-up.
        self._fired_upto: str | None = None
        self._fired_at = 0.0
        self._refire_after = REFIRE_FIRST_SECONDS
        self._poller = _WalPoller(conn_id)

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "conn_id": self.conn_id, "capture_id": self.capture_id}

    async def _produce(self, signals: Signals) -> None:
        from syncgate.connectors.postgres.cdc.names import publication_name, slot_name

        slot, publication = slot_name(self.capture_id), publication_name(self.capture_id)
        if not await self._has_watermark():
            # Never promoted: its first run reads the whole table, and the slot may hold nothing
            # to announce it (rows written before `cdc setup`).
            signals.add(1)
        backoff = 1.0
        try:
            while True:
                try:
                    # One signal per window: polling on while it is open would only re-find it.
                    started = asyncio.get_running_loop().time()
                    if not signals.pending and await asyncio.to_thread(
                        self._poller.due, slot, publication, self._fired_upto
                    ):
                        signals.add(1)
                        self._refire_after = REFIRE_FIRST_SECONDS
                    elif not signals.pending and await self._unconsumed(slot, publication):
                        signals.add(1)
                    backoff = 1.0
                    # Decoding a long backlog takes a while: never poll more than a third of the time.
                    took = asyncio.get_running_loop().time() - started
                    await asyncio.sleep(max(self.poll_seconds, 2 * took))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning(
                        "Flow %s: polling slot %s failed (%s); retrying in %.0fs",
                        self.flow_id, slot, type(exc).__name__, backoff,
                    )  # fmt: skip
                    await asyncio.to_thread(self._poller.close)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            await asyncio.to_thread(self._poller.close)

    async def _unconsumed(self, slot: str, publication: str) -> bool:
        """Changes a firing announced are still in the slot long after it: no run took them.

        A paused DAG gets no run from an asset event, and the event is not kept for later; nor
        does a failed run advance the slot. Fire again, at growing intervals, until a run does.
        """
        loop = asyncio.get_running_loop()
        if self._fired_upto is None or loop.time() - self._fired_at < self._refire_after:
            return False
        self._fired_at = loop.time()
        self._refire_after = min(self._refire_after * 2, REFIRE_MAX_SECONDS)
        return await asyncio.to_thread(self._poller.due, slot, publication, None)

    async def _has_watermark(self) -> bool:
        def read() -> bool:
            from syncgate.state.watermarks import read_watermark

            with self._state() as conn:
                return read_watermark(conn, self.capture_id).value is not None

        try:
            return await asyncio.to_thread(read)
        except Exception:  # the state database is down: the slot's pending changes still fire
            log.exception("Flow %s: could not read its watermark", self.flow_id)
            return True

    async def _prepare(self) -> None:
        # The run this firing starts reads at least up to here: later changes are the next
        # firing's. Read while the window is still open, so the poller cannot re-find them.
        try:
            self._fired_upto = await asyncio.to_thread(self._poller.current_lsn)
            self._fired_at = asyncio.get_running_loop().time()
        except Exception:
            log.exception("Flow %s: could not read the current WAL position", self.flow_id)


class _WalPoller:
    """One source connection reused across polls (run in a worker thread, never concurrently)."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self._conn: Any = None
        self._retained_fired_at: str | None = None

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            from syncgate.db.connect import connect

            self._conn = connect(self.conn_id, autocommit=True)
        return self._conn

    def due(self, slot: str, publication: str, after: str | None) -> bool:
        """Changes of the flow's table beyond ``after``, or a slot holding too much WAL.

        The second fires at most once per confirmed position (the run it starts moves it).
        """
        from syncgate.connectors.postgres.cdc.pending import pending_lsn

        conn = self._connection()
        row = conn.execute(
            "SELECT confirmed_flush_lsn::text, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) "
            "FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        ).fetchone()
        if row is not None and row[1] is not None and row[1] > RETAINED_FIRE_BYTES:
            if row[0] != self._retained_fired_at:
                self._retained_fired_at = row[0]
                return True
        return pending_lsn(conn, slot, publication, after) is not None

    def current_lsn(self) -> str:
        row = self._connection().execute("SELECT pg_current_wal_lsn()::text").fetchone()
        return str(row[0])

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
