"""The event triggers' ``run()`` against a real PostgreSQL, as the triggerer iterates it.

Notify: one firing per burst within the debounce, later bursts fire without re-arming, a catch-up
firing on arm and after a lost connection, and no notification lost while the trigger is
re-created. Webhook: accepted rows fire and are marked fired. Wal: pending changes in the slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest

from syncgate.events import store
from syncgate.events.triggers import PostgresNotifyEventTrigger, WalPendingEventTrigger, WebhookEventTrigger
from syncgate.state.schema import ensure_state_schema

pytestmark = pytest.mark.integration

CHANNEL = "Orders_Changed"  # mixed case: LISTEN must quote it as pg_notify spells it
WAIT = 20.0  # seconds to wait for a firing that must come (generous: 2 shared cores)


class Running:
    """Trigger instances iterated one after another, as the triggerer re-creates a watcher's;
    every firing of any of them is kept with the monotonic time it was handed over."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make
        self.firings: list[tuple[float, dict[str, Any]]] = []
        self.task: asyncio.Task[None] | None = None
        self.starts = 0

    async def _iterate(self) -> None:
        async for event in self.make().run():
            self.firings.append((time.monotonic(), event.payload))

    def start(self) -> None:
        self.starts += 1
        self.task = asyncio.create_task(self._iterate())

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.task = None

    async def firing_after(self, moment: float, timeout: float = WAIT) -> dict[str, Any] | None:
        """The first firing handed over after ``moment``, waiting up to ``timeout`` for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, payload in self.firings:
                if at > moment:
                    return payload
            if self.task is not None and self.task.done():
                self.task.result()  # a trigger that died says why
            await asyncio.sleep(0.02)
        return None

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Firings handed over in the next ``seconds``."""
        start = time.monotonic()
        await asyncio.sleep(seconds)
        return [payload for at, payload in self.firings if at > start]


@pytest.fixture
def src(databases: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(databases["src"], autocommit=True) as conn:
        yield conn


def promoted_once(state: psycopg.Connection[Any], flow_id: str) -> None:
    """A watermark for ``flow_id``: the flow has run (its first, full run is not owed)."""
    state.execute(
        "INSERT INTO syncgate.watermarks (flow_id, cursor_column, value) VALUES (%s, 'wal_lsn', '0/1')",
        (flow_id,),
    )


def wal_flow(flow_id: str) -> Any:
    """A one-way flow capturing ``public.orders`` of ``src_db`` from the log, with a wal trigger."""
    from syncgate.spec.model import FlowSpec

    return FlowSpec.model_validate(
        {
            "id": flow_id,
            "source": {"type": "postgres", "conn_id": "src_db", "table": "public.orders", "primary_key": ["id"],
                       "capture": "wal"},
            "target": {"type": "postgres", "conn_id": "dst_db", "table": "public.orders"},
            "triggers": [{"type": "wal"}],
        }
    )  # fmt: skip


def notify(conn: psycopg.Connection[Any], count: int = 1, channel: str = CHANNEL) -> float:
    """``count`` notifications committed together (distinct payloads: PostgreSQL folds equal
    ones of a transaction into one); the monotonic time before the commit (a trigger may fire
    before this thread reads the clock again)."""
    before = time.monotonic()
    with conn.transaction():
        for n in range(count):
            conn.execute("SELECT pg_notify(%s, %s)", (channel, f"n{n}"))
    return before


def listeners(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND query ILIKE 'LISTEN%%' AND pid <> pg_backend_pid()"
    ).fetchone()
    return int(row[0]) if row else 0


def notify_trigger(debounce: float) -> PostgresNotifyEventTrigger:
    return PostgresNotifyEventTrigger(
        flow_id="orders", state_conn_id="dst_db", debounce=debounce, conn_id="src_db", channel=CHANNEL
    )


async def until(check: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return True
        await asyncio.sleep(0.05)
    return False


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), timeout=300))


def test_notify_fires_a_catch_up_on_arm_then_once_per_burst_without_re_arming(
    src: psycopg.Connection[Any],
) -> None:
    async def body() -> None:
        running = Running(lambda: notify_trigger(debounce=1.0))
        started = time.monotonic()
        running.start()
        catch_up = await running.firing_after(started)
        assert catch_up is not None, "no catch-up firing on arm"
        assert catch_up["flow_id"] == "orders" and catch_up["trigger"] == "postgres_notify"
        assert catch_up["events"] == 1 and catch_up["first_at"] <= catch_up["last_at"]
        for burst in (20, 5):
            sent = await asyncio.to_thread(notify, src, burst)
            fired = await running.firing_after(sent)
            assert fired is not None, f"no firing for a burst of {burst}"
            assert fired["events"] == burst, fired
            # One firing per burst: nothing more once the window closed.
            assert await running.quiet(2.0) == []
        assert running.starts == 1
        await running.stop()

    run(body)


def test_notify_with_zero_debounce_fires_for_every_commit_apart(src: psycopg.Connection[Any]) -> None:
    async def body() -> None:
        running = Running(lambda: notify_trigger(debounce=0.0))
        running.start()
        assert await running.firing_after(time.monotonic() - 1) is not None
        for _ in range(3):
            sent = await asyncio.to_thread(notify, src)
            fired = await running.firing_after(sent)
            assert fired is not None and fired["events"] == 1
        await running.stop()

    run(body)


def test_no_notification_is_lost_while_the_trigger_is_re_created(src: psycopg.Connection[Any]) -> None:
    """N notifications interleaved with K restarts: each must be followed by a firing.

    A notification lands before a restart (its debounce window is cut short by the cancel),
    while no trigger listens, or right after the new one starts (LISTEN maybe not in place):
    only the catch-up firing of the new trigger covers the first two.
    """
    rng = random.Random(12)
    notifications, restarts = 30, 10
    restart_rounds = set(rng.sample(range(notifications), restarts))

    async def body() -> list[int]:
        running = Running(lambda: notify_trigger(debounce=0.3))
        running.start()
        assert await until(lambda: listeners(src) == 1)
        missed = []
        for index in range(notifications):
            if index in restart_rounds:
                where = rng.choice(["pending_window", "down", "just_started"])
                if where == "pending_window":
                    sent = await asyncio.to_thread(notify, src)
                    await asyncio.sleep(0.05)
                    await running.stop()
                    running.start()
                elif where == "down":
                    await running.stop()
                    sent = await asyncio.to_thread(notify, src)
                    running.start()
                else:
                    await running.stop()
                    running.start()
                    sent = await asyncio.to_thread(notify, src)
            else:
                await asyncio.sleep(rng.uniform(0, 0.4))
                sent = await asyncio.to_thread(notify, src)
            if await running.firing_after(sent, timeout=8.0) is None:
                missed.append(index)
        await running.stop()
        assert running.starts == restarts + 1
        return missed

    missed = asyncio.run(asyncio.wait_for(body(), timeout=600))
    assert missed == [], (
        f"{len(missed)} of {notifications} notifications never followed by a firing: {missed}"
    )


def test_notify_reconnects_after_losing_its_connection_and_catches_up(src: psycopg.Connection[Any]) -> None:
    async def body() -> None:
        running = Running(lambda: notify_trigger(debounce=0.2))
        running.start()
        assert await until(lambda: listeners(src) == 1)
        killed = await asyncio.to_thread(
            lambda: src.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query ILIKE 'LISTEN%%' AND pid <> pg_backend_pid()"
            ).fetchone()
        )
        assert killed == (1,)
        lost = time.monotonic()
        catch_up = await running.firing_after(lost)
        assert catch_up is not None, "no catch-up firing after the reconnection"
        # Listening again: a later notification fires.
        sent = await asyncio.to_thread(notify, src)
        assert await running.firing_after(sent) is not None
        assert running.starts == 1
        await running.stop()

    run(body)


@pytest.fixture
def state(databases: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    # Autocommit: a read must not leave a transaction open around the next webhook's.
    with psycopg.connect(databases["dst"], autocommit=True) as conn:
        ensure_state_schema(conn)
        yield conn


def test_accepted_webhooks_fire_and_are_marked_fired(state: psycopg.Connection[Any]) -> None:
    def fired_rows() -> list[int]:
        return [e["events"] for e in store.last_events(state, "orders") if e["outcome"] == "fired"]

    async def body() -> None:
        # Accepted before the trigger armed (a triggerer restart): the catch-up covers them.
        for n in range(2):
            store.record_webhook(state, "orders", f"early_{n}")
        running = Running(lambda: WebhookEventTrigger(flow_id="orders", state_conn_id="dst_db", debounce=0.5))
        started = time.monotonic()
        running.start()
        catch_up = await running.firing_after(started)
        assert catch_up is not None and catch_up["trigger"] == "webhook" and catch_up["events"] == 2
        assert await until(lambda: store.unfired_webhooks(state, "orders")[0] == 0)
        assert await until(lambda: fired_rows() == [2])

        store.record_webhook(state, "customers", "other_flow")  # same channel, another flow
        assert await running.quiet(1.5) == []
        for n in range(3):
            store.record_webhook(state, "orders", f"late_{n}")
        store.record_webhook(state, "orders", "late_0")  # a replay: no NOTIFY, no event
        sent = time.monotonic()
        fired = await running.firing_after(sent - 0.01)
        assert fired is not None and fired["events"] == 3, fired
        assert await until(lambda: fired_rows() == [3, 2])
        assert store.unfired_webhooks(state, "orders")[0] == 0
        assert store.unfired_webhooks(state, "customers")[0] == 1
        await running.stop()

    run(body)


def test_a_webhook_trigger_with_nothing_unfired_does_not_fire_on_arm(state: psycopg.Connection[Any]) -> None:
    async def body() -> None:
        running = Running(lambda: WebhookEventTrigger(flow_id="orders", state_conn_id="dst_db", debounce=0.2))
        running.start()
        assert await running.quiet(2.0) == []
        store.record_webhook(state, "orders", "first")
        fired = await running.firing_after(time.monotonic() - 0.01)
        assert fired is not None and fired["events"] == 1
        await running.stop()

    run(body)


def test_wal_fires_for_pending_changes_beyond_its_last_firing(
    src: psycopg.Connection[Any], state: psycopg.Connection[Any]
) -> None:
    from syncgate.connectors.postgres.cdc import slot as slots
    from syncgate.connectors.postgres.cdc.flow import drop_flow, setup_flow
    from syncgate.connectors.postgres.cdc.names import slot_name

    flow_id = "ev_wal_orders"  # slots are cluster-wide: a name no other test uses
    src.execute("CREATE TABLE public.orders (id int PRIMARY KEY, note text)")
    spec = wal_flow(flow_id)
    setup_flow(spec)

    def make() -> WalPendingEventTrigger:
        return WalPendingEventTrigger(
            flow_id=flow_id, state_conn_id="dst_db", debounce=0.3, conn_id="src_db", capture_id=flow_id
        )

    def insert(key: int) -> float:
        before = time.monotonic()
        src.execute("INSERT INTO public.orders VALUES (%s, 'x')", (key,))
        return before

    async def body() -> None:
        running = Running(make)
        # Never promoted: its first (full) run is owed, whatever the slot holds.
        running.start()
        assert await running.firing_after(time.monotonic() - 0.01) is not None, "no first run on arm"
        await running.stop()
        promoted_once(state, flow_id)
        running.start()
        assert await running.quiet(2.0) == [], "fired on arm with nothing pending"
        for key in range(2):
            fired = await running.firing_after(await asyncio.to_thread(insert, key))
            assert fired is not None and fired["trigger"] == "wal" and fired["flow_id"] == flow_id
            # No run consumed the change, and still it is not fired for again.
            assert await running.quiet(1.5) == []
        await running.stop()
        # A new trigger (a triggerer restart): what the slot still holds is a catch-up.
        running.start()
        assert await running.firing_after(time.monotonic() - 0.01) is not None
        await running.stop()
        # A run consumed everything (the slot advanced past it): nothing to catch up on.
        current = src.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert current is not None
        slots.advance(src, slot_name(flow_id), current[0])
        running.start()
        assert await running.quiet(2.0) == []
        await running.stop()

    try:
        run(body)
    finally:
        drop_flow(spec)


def test_wal_fires_once_per_confirmed_position_when_the_slot_holds_too_much_other_wal(
    src: psycopg.Connection[Any], state: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """WAL of other tables is no change of the flow's, but a slot that keeps it fills the disk:
    past a threshold the trigger fires (the run confirms the slot), once per confirmed position."""
    from syncgate.connectors.postgres.cdc import slot as slots
    from syncgate.connectors.postgres.cdc.flow import drop_flow, setup_flow
    from syncgate.connectors.postgres.cdc.names import slot_name
    from syncgate.events import triggers

    monkeypatch.setattr(triggers, "RETAINED_FIRE_BYTES", 64 * 1024)
    flow_id = "ev_wal_retained"
    src.execute("CREATE TABLE public.orders (id int PRIMARY KEY, note text)")
    src.execute("CREATE TABLE public.other (id int, pad text)")
    spec = wal_flow(flow_id)
    setup_flow(spec)
    promoted_once(state, flow_id)

    def other_wal() -> float:
        before = time.monotonic()
        src.execute("INSERT INTO public.other SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g")
        return before

    async def body() -> None:
        running = Running(
            lambda: WalPendingEventTrigger(
                flow_id=flow_id, state_conn_id="dst_db", debounce=0.1, conn_id="src_db", capture_id=flow_id
            )
        )
        running.start()
        assert await running.quiet(1.0) == []
        assert await running.firing_after(await asyncio.to_thread(other_wal)) is not None
        # More WAL, but the slot has not moved since that firing: no second run for it.
        await asyncio.to_thread(other_wal)
        assert await running.quiet(1.5) == []
        # A run confirmed the slot; WAL piles up again: it fires again.
        current = src.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert current is not None
        slots.advance(src, slot_name(flow_id), current[0])
        assert await running.firing_after(await asyncio.to_thread(other_wal)) is not None
        await running.stop()

    try:
        run(body)
    finally:
        drop_flow(spec)


def test_listen_connections_ask_for_tcp_keepalives(
    src: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LISTEN connection idles for hours: without keepalives a silently dropped one goes deaf."""
    from psycopg.conninfo import conninfo_to_dict

    opened: list[dict[str, Any]] = []
    real_connect = psycopg.AsyncConnection.connect

    async def recording(info: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(conninfo_to_dict(info))
        return await real_connect(info, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", recording)

    async def body() -> None:
        running = Running(lambda: notify_trigger(debounce=0.1))
        started = time.monotonic()
        running.start()
        assert await running.firing_after(started) is not None
        await running.stop()

    run(body)
    assert opened and all(o.get("keepalives") == "1" and o.get("keepalives_idle") == "30" for o in opened)
