"""The fault suite's shared pieces: the end state every case must reach, a stage run that can be
killed at a chosen point, a PostgreSQL cluster that can crash, and a TCP proxy that can cut.

Every case ends with ``assert_repaired``: the target equal to the source by checksum, no key
twice, no leftovers, and the flow's watermark moved exactly once (a trigger on
``syncgate.watermarks``, installed by ``track_watermark``, logs every committed write).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from helpers import REPO, execute, make_spec, rows, seed_orders, source_sum, sync, target_sum

from syncgate.batch.contract import Batch
from syncgate.batch.run import RunInfo

HERE = Path(__file__).resolve().parent
LEASE_SECONDS = "1"


# --- the end state --------------------------------------------------------------------------


def track_watermark(dst: str) -> None:
    """Log every committed write of ``syncgate.watermarks`` (an aborted promote logs nothing)."""
    from syncgate.db.connect import connect
    from syncgate.state.schema import ensure_state_schema

    with connect("dst_db") as conn:
        ensure_state_schema(conn)
        conn.commit()
    execute(
        dst,
        "CREATE TABLE IF NOT EXISTS public.watermark_writes "
        "(flow_id text, old_value text, new_value text, batch_id text, at timestamptz DEFAULT clock_timestamp())",
        """CREATE OR REPLACE FUNCTION public.log_watermark_write() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             INSERT INTO public.watermark_writes (flow_id, old_value, new_value, batch_id)
             VALUES (NEW.flow_id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.value END, NEW.value, NEW.batch_id);
             RETURN NEW;
           END $$""",
        "DROP TRIGGER IF EXISTS watermark_writes ON syncgate.watermarks",
        "CREATE TRIGGER watermark_writes AFTER INSERT OR UPDATE ON syncgate.watermarks "
        "FOR EACH ROW EXECUTE FUNCTION public.log_watermark_write()",
    )


def watermark_value(dst: str, flow_id: str = "orders_flow") -> str | None:
    found = rows(dst, "SELECT value FROM syncgate.watermarks WHERE flow_id = %s", (flow_id,))
    return found[0][0] if found else None


def watermark_moves(dst: str, flow_id: str = "orders_flow") -> list[tuple[str | None, str | None]]:
    """(from, to) of each committed write that changed the value (a rewrite of the same value
    by a run that found nothing newer is not a move)."""
    return [
        (old, new)
        for old, new in rows(
            dst,
            "SELECT old_value, new_value FROM public.watermark_writes WHERE flow_id = %s ORDER BY at",
            (flow_id,),
        )
        if old != new
    ]


def staging_tables(dst: str) -> list[str]:
    return [t for (t,) in rows(dst, "SELECT tablename FROM pg_tables WHERE schemaname = 'syncgate_staging'")]


def landed_files() -> list[Path]:
    root = Path(urlsplit(os.environ["SYNCGATE_LANDING_URL"]).path)
    return sorted(p for p in root.rglob("*") if p.is_file())


def assert_repaired(src: str, dst: str, *, before: str | None, cursor: bool = True) -> None:
    """The target equals the source, no key twice, nothing left over, the watermark moved once."""
    assert target_sum(dst) == source_sum(src), "the target differs from the source"
    ((total, keys),) = rows(dst, "SELECT count(*), count(DISTINCT id) FROM analytics.orders")
    assert total == keys, f"{total - keys} duplicated row(s)"
    left = staging_tables(dst)
    runs = rows(
        dst, "SELECT run_id, status, staging_table, error FROM syncgate.sync_runs ORDER BY started_at"
    )
    assert left == [], f"staging tables left over: {left}; runs: {runs}"
    assert landed_files() == [], "landed files left over"
    assert rows(dst, "SELECT count(*) FROM syncgate.sync_runs WHERE status = 'running'") == [(0,)]
    if not cursor:
        assert watermark_moves(dst) == [] and watermark_value(dst) is None
        return
    after = watermark_value(dst)
    assert watermark_moves(dst) == [(before, after)], "the watermark did not move exactly once"
    newest = rows(src, "SELECT %s::timestamptz = max(updated_at) FROM public.orders", (after,))[0][0]
    assert newest, f"the watermark {after} is not the source's newest cursor value"


def change_source(src: str, stamp: str = "2026-03-01 00:00:00+00") -> None:
    """Updates, inserts and deletes, all newer than the seeded rows."""
    execute(
        src,
        f"UPDATE public.orders SET status = 'X', note = 'changed', updated_at = '{stamp}'::timestamptz "
        "+ id * interval '1 second' WHERE id % 7 = 0",
        f"INSERT INTO public.orders SELECT 100000 + g, 'P', g, NULL, 'new', '{stamp}'::timestamptz "
        "+ interval '1 day' + g * interval '1 second' FROM generate_series(1, 40) g",
        "DELETE FROM public.orders WHERE id % 11 = 0 AND id < 100000",
    )


def synced_then_changed(src: str, dst: str, count: int) -> tuple[Any, str | None]:
    """An incremental flow synced over ``count`` seeded rows, then a source change pending; the
    watermark's writes are tracked. Returns the spec and the watermark before the fault."""
    seed_orders(src, count)
    spec = make_spec()
    sync(spec)
    change_source(src)
    track_watermark(dst)
    return spec, watermark_value(dst)


def wait_for_expiry(dst: str, run: RunInfo) -> None:
    """Until the killed run's lease has run out (its heartbeat died with it)."""
    deadline = time.monotonic() + 30
    while rows(
        dst,
        "SELECT coalesce(lease_expires_at > now(), false) FROM syncgate.sync_runs WHERE run_id = %s",
        (run.run_id,),
    ) == [(True,)]:
        assert time.monotonic() < deadline, "the killed run's lease never expired"
        time.sleep(0.2)


# --- a stage run killed with SIGKILL --------------------------------------------------------


def start_killable_stage(
    tmp_path: Path, overrides: dict[str, Any], run: RunInfo, stage: str, point: str, batch: Batch | None
) -> subprocess.Popen[bytes]:
    """Run ``stage`` of ``run`` in a child process (``killable_stage.py``) that hangs at ``point``
    under the stage's heartbeat; returns once it hangs there."""
    marker = tmp_path / f"hanging-{point}"
    job = tmp_path / f"job-{point}.json"
    job.write_text(
        json.dumps(
            {
                "overrides": overrides,
                "run_id": run.run_id,
                "stage": stage,
                "point": point,
                "batch": batch.to_xcom() if batch is not None else None,
                "marker": str(marker),
            }
        )
    )
    return start_hanging_child("killable_stage.py", job, marker, point, timeout=120)


def start_hanging_child(
    script: str, job: Path, marker: Path, point: str, *, timeout: float
) -> subprocess.Popen[bytes]:
    """Start ``script`` (in this folder) on ``job``; returns once it hangs at ``point`` (``marker``)."""
    path = os.pathsep.join([str(REPO / "include"), str(REPO / "tests" / "integration"), str(HERE)])
    env = {**os.environ, "PYTHONPATH": path, "SYNCGATE_RUN_LEASE_SECONDS": LEASE_SECONDS}
    process = subprocess.Popen([sys.executable, str(HERE / script), str(job)], env=env)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"the run to be killed ended early (exit {process.returncode})")
        if time.monotonic() > deadline:
            kill(process)
            raise AssertionError(f"the run to be killed never reached {point}")
        time.sleep(0.05)
    return process


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait()


# --- a PostgreSQL cluster that crashes ------------------------------------------------------


class Cluster:
    """A PostgreSQL cluster of its own (``scripts/pg_cluster.sh``), for faults that would hit
    every other test on the shared one: ``restart_immediately`` is a crash and recovery."""

    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port
        self.url = self._script("start", str(data), str(port)).strip().splitlines()[-1]

    def restart_immediately(self) -> None:
        self._script("restart-immediate", str(self.data))

    def destroy(self) -> None:
        self._script("destroy", str(self.data))

    @staticmethod
    def _script(*args: str) -> str:
        done = subprocess.run(
            ["bash", str(REPO / "scripts" / "pg_cluster.sh"), *args], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- a TCP proxy that cuts ------------------------------------------------------------------


class Proxy:
    """A loopback TCP proxy in front of ``upstream`` (host, port), one thread per connection.

    - ``cut_when(trigger, after=n)``: once a client sends bytes containing ``trigger``, ``n``
      more bytes from the server pass, then every connection of the proxy is closed (both
      sockets), once;
    - ``blackhole_when(trigger)``: the connection whose client sends ``trigger`` stops
      forwarding either way and stays open (a peer gone silent); new connections pass;
    - ``refuse``: every new connection is closed at once (the server is unreachable).
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.cut_trigger: bytes | None = None
        self.hole_trigger: bytes | None = None
        self.after = 0
        self.budget: int | None = None  # server bytes still let through once the cut is armed
        self.cuts = 0
        self.holes = 0
        self.refuse = False
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_when(self, trigger: bytes, after: int = 0) -> None:
        with self.lock:
            self.cut_trigger, self.after, self.budget = trigger, after, None

    def blackhole_when(self, trigger: bytes) -> None:
        with self.lock:
            self.hole_trigger = trigger

    def cut_now(self) -> None:
        with self.lock:
            pairs, self.pairs = self.pairs, []
            self.cuts += 1
        for pair in pairs:
            for sock in pair:
                _close(sock)

    def close(self) -> None:
        self.closed = True
        _close(self.listener)
        self.cut_now()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refuse:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                _close(client)
                continue
            with self.lock:
                self.pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        ends = {client: server, server: client}
        silent = False
        try:
            while not self.closed:
                ready, _, _ = select.select(list(ends), [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if silent:
                        continue
                    with self.lock:
                        if sock is client and self.hole_trigger is not None and self.hole_trigger in data:
                            self.hole_trigger, silent = None, True
                            self.holes += 1
                            continue
                        forward, cut = self._budget(sock is client, data)
                    if forward:
                        ends[sock].sendall(forward)
                    if cut:
                        self.cut_now()
                        return
        except OSError:
            return
        finally:
            _close(client)
            _close(server)

    def _budget(self, from_client: bool, data: bytes) -> tuple[bytes, bool]:
        """What of ``data`` to forward, and whether to cut after it (lock held)."""
        if from_client and self.cut_trigger is not None and self.cut_trigger in data:
            self.cut_trigger, self.budget = None, self.after
            return data, False
        if not from_client and self.budget is not None:
            if len(data) < self.budget:
                self.budget -= len(data)
                return data, False
            forward, self.budget = data[: self.budget], None
            return forward, True
        return data, False


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def proxied_url(url: str, port: int) -> str:
    """``url`` with its port replaced by the proxy's."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.replace(f":{parts.port}", f":{port}")).geturl()


def hang_here(marker: Path, release: Callable[[], bool] = lambda: False) -> None:
    """Mark the hang point reached, then wait until ``release`` says so (never, by default)."""
    marker.write_text("hanging")
    while not release():
        time.sleep(0.05)
