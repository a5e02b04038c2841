"""A three-side mesh of real PostgreSQL databases, run by ``dag.test()``: records created on two
sides at once, a side whose apply fails (its write permission revoked) and then recovers."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import execute, flows_dag_bag, rows, task_states

pytestmark = pytest.mark.integration

SPEC = """
id: airports_mesh
mode: multi_way
schedule: "*/5 * * * *"
retries: 0
sides:
  a: {type: postgres, conn_id: src_db, table: public.airports, primary_key: [faa], cursor: updated_at, deletes: hard}
  b: {type: postgres, conn_id: dst_db, table: public.airports, primary_key: [faa], cursor: updated_at, deletes: hard}
  c: {type: postgres, conn_id: c_db, table: public.airports, primary_key: [faa], cursor: updated_at, deletes: hard}
conflicts:
  default: newest_wins
  tie_break: [a, b, c]
"""

TABLE = """
CREATE TABLE public.airports (faa text PRIMARY KEY, name text NOT NULL, city text,
                              updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON public.airports FOR EACH ROW EXECUTE FUNCTION stamp();
"""


@pytest.fixture
def third(pg_url: str, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Side c: its own database, reached as a non-superuser whose write rights a test can revoke."""
    name, role = f"sg_c_{uuid.uuid4().hex[:10]}", f"sg_writer_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    base = pg_url.rpartition("/")[0]
    admin_url = f"{base}/{name}"
    execute(admin_url, TABLE, f'GRANT SELECT, INSERT, UPDATE, DELETE ON public.airports TO "{role}"')
    monkeypatch.setenv("AIRFLOW_CONN_C_DB", admin_url.replace("://syncgate@", f"://{role}@"))
    yield admin_url
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def airports(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT faa, name, city FROM public.airports ORDER BY faa")


def conflicts(url: str, run_id: str) -> list[tuple[Any, ...]]:
    return rows(
        url,
        "SELECT record_key, field, winner, status, side_values FROM syncgate.sync_conflicts "
        "WHERE flow_id = 'airports_mesh' AND run_id = %s ORDER BY record_key, field",
        (run_id,),
    )


def run(monkeypatch: pytest.MonkeyPatch, flows: Path) -> Any:
    return flows_dag_bag(monkeypatch, flows).dags["airports_mesh"].test()


def test_a_mesh_converges_through_a_failed_side(
    databases: dict[str, str], third: str, airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a, b, c = databases["src"], databases["dst"], third
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "airports_mesh.yml").write_text(textwrap.dedent(SPEC))
    execute(
        a,
        TABLE,
        "INSERT INTO public.airports VALUES ('JFK', 'Kennedy', 'New York'), ('SFO', 'San Francisco', 'SF')",
    )
    execute(
        b,
        TABLE,
        "INSERT INTO public.airports VALUES ('JFK', 'Kennedy', 'New York'), ('LAX', 'Los Angeles', 'LA')",
    )
    # The same record created on two sides with different names: a conflict, newest wins.
    execute(c, "INSERT INTO public.airports VALUES ('SFO', 'SFO International', 'SF')")

    first = run(monkeypatch, flows)
    assert set(task_states(first).values()) == {"success"}, task_states(first)
    assert airports(a) == airports(b) == airports(c)
    assert [r[0] for r in airports(a)] == ["JFK", "LAX", "SFO"]
    assert ("SFO", "SFO International", "SF") in airports(a)  # c's was the newer insert
    # JFK was created with equal values on a and b: not a conflict.
    assert [(k, f, w, s) for k, f, w, s, _ in conflicts(a, first.run_id)] == [
        ('["SFO"]', "name", "c", "resolved")
    ]

    # Side c loses its write permission: a's edit reaches b but not c, and the run fails naming c.
    execute(c, f"REVOKE INSERT, UPDATE, DELETE ON public.airports FROM {_role(c)}")
    execute(a, "UPDATE public.airports SET city = 'Queens' WHERE faa = 'JFK'")
    execute(b, "INSERT INTO public.airports VALUES ('ORD', 'O''Hare', 'Chicago')")
    failed = run(monkeypatch, flows)
    states = task_states(failed)
    assert states["promote_c"] == "failed" and states["promote_a"] == states["promote_b"] == "success", states
    assert ("JFK", "Kennedy", "Queens") in airports(b) and ("ORD", "O'Hare", "Chicago") in airports(a)
    assert ("JFK", "Kennedy", "New York") in airports(c)
    assert rows(a, "SELECT status FROM syncgate.sync_runs WHERE flow_id = 'airports_mesh' AND run_id = %s",
                (failed.run_id,)) == [("failed",)]  # fmt: skip

    # While c is behind, someone edits the same field there: concurrent with a's edit, so it
    # is a conflict (not silently lost, not silently winning); another field merges cleanly.
    execute(c, "UPDATE public.airports SET city = 'JFK City', name = 'JFK Intl' WHERE faa = 'JFK'")
    execute(c, f"GRANT INSERT, UPDATE, DELETE ON public.airports TO {_role(c)}")
    recovered = run(monkeypatch, flows)
    assert set(task_states(recovered).values()) == {"success"}, task_states(recovered)
    assert airports(a) == airports(b) == airports(c)
    assert ("JFK", "JFK Intl", "JFK City") in airports(a)  # c's edit is the newest
    assert ("ORD", "O'Hare", "Chicago") in airports(c)  # no duplicate, nothing lost
    logged = conflicts(a, recovered.run_id)
    assert [(k, f, w) for k, f, w, _, _ in logged] == [('["JFK"]', "city", "c")]
    assert logged[0][4]["c"] == "JFK City" and "Queens" in logged[0][4].values()

    quiet = run(monkeypatch, flows)
    assert set(task_states(quiet).values()) == {"success"}
    assert conflicts(a, quiet.run_id) == []
    assert rows(a, "SELECT count(*) FROM syncgate.sync_pending WHERE flow_id = 'airports_mesh'") == [(0,)]


def _role(url: str) -> str:
    return rows(url, "SELECT grantee FROM information_schema.role_table_grants "
                     "WHERE table_name = 'airports' AND grantee LIKE 'sg_writer_%%' LIMIT 1")[0][0]  # fmt: skip
