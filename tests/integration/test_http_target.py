"""HTTP target: PostgreSQL -> the demo CRM over real HTTP on loopback, state in real PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from crm_push import (
    crm_customers,
    make_http_spec,
    push_requests,
    seed_customers,
    source_customers,
)
from helpers import audit, execute, new_run, rows, sync, watermark

from syncgate.connectors.http.push import pusher, transport
from syncgate.connectors.http.push.idempotency import idempotency_key, key_sql
from syncgate.errors import FatalError, RetriableError
from syncgate.pipeline import promote as promote_module
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify
from syncgate.report.paths import report_files

pytestmark = pytest.mark.integration


def staged(spec: Any) -> tuple[Any, dict[str, Any]]:
    """Extract, transform, load and verify a batch; returns the run and the promote-ready manifest."""
    run = new_run(spec)
    return run, verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))


def flow_writes(crm: Any) -> list[dict[str, Any]]:
    return [w for w in crm.admin.writes()]


def test_first_push_creates_every_record_then_only_changes_travel(
    databases: dict[str, str], crm_empty: Any
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 60)
    spec = make_http_spec()

    first = sync(spec)
    assert first["counts"] == {
        "rows_inserted": 60, "rows_updated": 0, "rows_deleted": 0, "rows_pushed": 60, "rows_push_failed": 0,
    }  # fmt: skip
    assert crm_customers(crm_empty) == source_customers(src)
    assert Counter(w["op"] for w in flow_writes(crm_empty)) == {"create": 60}
    one = audit(dst, first["run"].run_id, "crm_push")
    assert (one["status"], one["rows_pushed"], one["rows_inserted"]) == ("success", 60, 60)
    assert watermark(dst, "crm_push") is not None
    report = json.loads(report_files("crm_push", first["run"].run_id)[0].read_text())
    assert report["rows"]["pushed"] == 60, report["rows"]

    # Two rows change, one arrives: the update sends only the changed field.
    execute(
        src,
        "UPDATE public.customers SET tier = 9, updated_at = now() WHERE id IN (3, 4)",
        "INSERT INTO public.customers VALUES (61, 'New', 'n@example.com', 'lead', NULL, 1.5, "
        '\'{"city": null, "country": "FR"}\', \'{}\', now(), NULL)',
    )
    before = push_requests(crm_empty)
    second = sync(spec)
    assert second["counts"] == {
        "rows_inserted": 1, "rows_updated": 2, "rows_deleted": 0, "rows_pushed": 3, "rows_push_failed": 0,
    }  # fmt: skip
    assert push_requests(crm_empty) - before == 3
    assert crm_customers(crm_empty) == source_customers(src)
    patches = [w for w in flow_writes(crm_empty)[60:] if w["op"] == "update"]
    assert sorted(w["id"] for w in patches) == [3, 4]

    # Nothing changed: the boundary rows are re-read, compared with the mirror, and not pushed.
    before = push_requests(crm_empty)
    third = sync(spec)
    assert third["counts"]["rows_pushed"] == 0
    assert push_requests(crm_empty) == before
    assert rows(dst, "SELECT count(*) FROM syncgate_mirror.crm_push") == [(61,)]
    assert rows(dst, "SELECT count(*) FROM syncgate.push_changes") == [(0,)]


def test_patch_sends_only_changed_fields_and_put_sends_the_whole_record(
    databases: dict[str, str], crm_empty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = databases["src"]
    seed_customers(src, 5)
    sync(make_http_spec())
    # Someone edits a field in the CRM that the flow does not change: PATCH leaves it alone.
    with crm_empty.client() as client:
        client.patch("/v1/customers/1", json={"status": "lead"}).raise_for_status()
        client.patch("/v1/customers/2", json={"status": "lead"}).raise_for_status()
    execute(src, "UPDATE public.customers SET name = 'Renamed', updated_at = now() WHERE id IN (1, 2)")
    sync(make_http_spec(source__deletes="none", source__soft_delete_column=None))
    records = crm_customers(crm_empty)
    assert records[1]["name"] == "Renamed" and records[1]["status"] == "lead"

    execute(src, "UPDATE public.customers SET name = 'Put', updated_at = now() WHERE id = 2")
    put = make_http_spec(
        source__deletes="none", source__soft_delete_column=None, target__methods={"update": "PUT"}
    )
    sync(put)
    records = crm_customers(crm_empty)
    # PUT replaced the whole record: the CRM-side status edit is overwritten by the source's value.
    assert records[2] == source_customers(src)[2]


@pytest.mark.parametrize("deletes", ["soft", "hard"])
def test_deletes_go_out_as_delete_requests(databases: dict[str, str], crm_empty: Any, deletes: str) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 20)
    overrides: dict[str, Any] = {}
    if deletes == "hard":
        overrides = {"source__deletes": "hard", "source__soft_delete_column": None}
    spec = make_http_spec(**overrides)
    sync(spec)
    if deletes == "soft":
        execute(src, "UPDATE public.customers SET deleted_at = now(), updated_at = now() WHERE id IN (5, 6)")
    else:
        execute(src, "DELETE FROM public.customers WHERE id IN (5, 6)")
    result = sync(spec)
    assert result["counts"]["rows_deleted"] == 2 and result["counts"]["rows_pushed"] == 2
    assert sorted(crm_customers(crm_empty)) == sorted(source_customers(src))
    assert 5 not in crm_customers(crm_empty)
    deleted = [w["id"] for w in flow_writes(crm_empty) if w["op"] == "delete"]
    assert sorted(deleted) == [5, 6]
    assert rows(dst, "SELECT count(*) FROM syncgate_mirror.crm_push WHERE id IN (5, 6)") == [(0,)]
    # A soft-deleted row that comes back is created again.
    if deletes == "soft":
        execute(src, "UPDATE public.customers SET deleted_at = NULL, updated_at = now() WHERE id = 5")
        assert sync(spec)["counts"]["rows_inserted"] == 1
        assert 5 in crm_customers(crm_empty)


def test_a_record_deleted_in_the_api_already_counts_as_deleted(
    databases: dict[str, str], crm_empty: Any
) -> None:
    src = databases["src"]
    seed_customers(src, 5)
    spec = make_http_spec()
    sync(spec)
    with crm_empty.client() as client:
        client.delete("/v1/customers/2").raise_for_status()
    execute(src, "UPDATE public.customers SET deleted_at = now(), updated_at = now() WHERE id = 2")
    result = sync(spec)
    assert (result["counts"]["rows_deleted"], result["counts"]["rows_push_failed"]) == (1, 0)


def test_batch_endpoint_carries_creates_updates_and_deletes(
    databases: dict[str, str], crm_empty: Any
) -> None:
    src = databases["src"]
    seed_customers(src, 45)
    spec = make_http_spec(target__batch={"endpoint": "/v1/customers/batch", "size": 20})
    first = sync(spec)
    assert first["counts"]["rows_inserted"] == 45
    stats = crm_empty.admin.stats()["requests"]
    assert stats == {"/v1/customers/batch": 3}  # 20 + 20 + 5 operations, nothing one by one
    execute(
        src,
        "UPDATE public.customers SET email = 'x' || id || '@example.org', updated_at = now() WHERE id <= 3",
        "UPDATE public.customers SET deleted_at = now(), updated_at = now() WHERE id = 40",
    )
    second = sync(spec)
    assert (second["counts"]["rows_updated"], second["counts"]["rows_deleted"]) == (3, 1)
    assert crm_empty.admin.stats()["requests"] == {"/v1/customers/batch": 4}
    assert crm_customers(crm_empty) == source_customers(src)
    keys = [w["idempotency_key"] for w in flow_writes(crm_empty)]
    assert all(keys) and len(set(keys)) == len(keys)


def break_answers_from_chunk(
    monkeypatch: pytest.MonkeyPatch, crm: Any, chunk: int, path: str, count: int = 4
) -> None:
    """From the ``chunk``-th chunk on, the API applies writes but ``count`` answers are cut mid-JSON."""
    original = transport.Transport.send
    calls = {"n": 0}

    def send(self: Any, changes: list[Any]) -> Any:
        calls["n"] += 1
        if calls["n"] == chunk:
            crm.admin.fault("truncate", count=count, path=path)
        return original(self, changes)

    monkeypatch.setattr(transport.Transport, "send", send)


def test_interrupted_push_is_retried_without_applying_anything_twice(
    databases: dict[str, str], crm_empty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes applied by the API whose answers were lost: the retry replays them by key."""
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 30)
    spec = make_http_spec()
    run, manifest = staged(spec)
    monkeypatch.setattr(pusher, "SINGLE_CHUNK", 10)
    # The 11th create is applied, but its answer (and the replays of three retries) is cut:
    # the client gives up and the task fails with 10 changes confirmed and one in doubt.
    with monkeypatch.context() as patched:
        break_answers_from_chunk(patched, crm_empty, 2, "/v1/customers")
        with pytest.raises(RetriableError, match="gave up after 4 attempt"):
            promote_module.promote(spec, run, manifest)
    stats = crm_empty.admin.stats()
    assert (stats["faults_fired"], stats["writes_applied"]) == (4, 11)
    assert rows(dst, "SELECT count(*) FROM syncgate_mirror.crm_push") == [(10,)]
    assert watermark(dst, "crm_push") is None
    failed = audit(dst, run.run_id, "crm_push")
    assert (failed["status"], failed["rows_pushed"], failed["rows_inserted"]) == ("running", 10, 10)

    # The task retry: same batch, same plan, same keys; the 11th is replayed, not applied again.
    counts = promote_module.promote(spec, run, manifest)
    assert counts["rows_inserted"] == 30 and counts["rows_push_failed"] == 0
    writes = flow_writes(crm_empty)
    assert len(writes) == 30 == crm_empty.admin.stats()["writes_applied"]
    assert len({w["idempotency_key"] for w in writes}) == 30
    assert crm_customers(crm_empty) == source_customers(src)
    assert watermark(dst, "crm_push") is not None
    # Another retry after success sends nothing at all.
    requests = push_requests(crm_empty)
    assert promote_module.promote(spec, run, manifest) == counts
    assert push_requests(crm_empty) == requests


def test_an_abandoned_push_is_completed_by_the_next_run_with_its_own_keys(
    databases: dict[str, str], crm_empty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 12)
    spec = make_http_spec(target__batch={"endpoint": "/v1/customers/batch", "size": 5})
    run, manifest = staged(spec)
    # The second batch request is applied but its answer is lost, four times: the run fails.
    with monkeypatch.context() as patched:
        break_answers_from_chunk(patched, crm_empty, 2, "/v1/customers/batch")
        with pytest.raises(RetriableError):
            promote_module.promote(spec, run, manifest)
    assert crm_empty.admin.stats()["writes_applied"] == 10  # 5 confirmed + 5 applied, unconfirmed
    # The operator reruns the whole flow: a new batch, planned only after the old one is completed.
    execute(src, "UPDATE public.customers SET name = 'Later', updated_at = now() WHERE id = 12")
    result = sync(spec)
    writes = flow_writes(crm_empty)
    # The old batch's 12 creates each applied once, then the new batch's one update.
    assert Counter(w["op"] for w in writes) == {"create": 12, "update": 1}
    assert len({w["idempotency_key"] for w in writes}) == 13
    assert crm_customers(crm_empty) == source_customers(src)
    # This run completed the old batch (7 creates, 5 of them re-sent and replayed) before its own.
    assert (result["counts"]["rows_inserted"], result["counts"]["rows_updated"]) == (7, 1)
    assert rows(dst, "SELECT count(*) FROM syncgate.rejected_records") == [(0,)]  # no 409 "already exists"
    assert rows(dst, "SELECT status FROM syncgate.push_batches ORDER BY planned_at") == [
        ("finished",),
        ("finished",),
    ]


@pytest.mark.parametrize("fail_run", [True, False])
def test_refused_records_are_recorded_and_the_others_pushed(
    databases: dict[str, str], crm_empty: Any, fail_run: bool
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 10)
    execute(src, "UPDATE public.customers SET email = 'no-at-sign-' || id WHERE id IN (4, 8)")
    spec = make_http_spec(target__rejects={"fail_run": fail_run})
    run, manifest = staged(spec)
    if fail_run:
        with pytest.raises(FatalError, match="refused 2 of 10"):
            promote_module.promote(spec, run, manifest)
    else:
        assert promote_module.promote(spec, run, manifest)["rows_push_failed"] == 2
    assert sorted(crm_customers(crm_empty)) == [1, 2, 3, 5, 6, 7, 9, 10]
    rejected = rows(
        dst,
        "SELECT record_key, reason, stage, run_id, record FROM syncgate.rejected_records ORDER BY record_key->>'id'",
    )
    assert [(r[0], r[1], r[2], r[3]) for r in rejected] == [
        ({"id": 4}, "422 email: email must contain '@'", "push", run.run_id),
        ({"id": 8}, "422 email: email must contain '@'", "push", run.run_id),
    ]
    assert "no-at-sign" not in json.dumps([r[1] for r in rejected])
    row = audit(dst, run.run_id, "crm_push")
    assert (row["rows_pushed"], row["rows_push_failed"], row["rows_inserted"]) == (8, 2, 8)
    if fail_run:
        assert row["status"] == "failed" and "rejected_records" in row["error"]
        assert watermark(dst, "crm_push") is None  # the next run offers the refused rows again
        # A retry of the failed task repeats the verdict without sending anything.
        before = push_requests(crm_empty)
        with pytest.raises(FatalError, match="refused 2 of 10"):
            promote_module.promote(spec, run, manifest)
        assert push_requests(crm_empty) == before
        # Fixed at the source: the next run pushes only the two, then succeeds.
        execute(src, "UPDATE public.customers SET email = 'fixed' || id || '@example.com' WHERE id IN (4, 8)")
        again = sync(spec)
        assert (again["counts"]["rows_inserted"], again["counts"]["rows_pushed"]) == (2, 2)
        assert crm_customers(crm_empty) == source_customers(src)
    else:
        assert row["status"] == "success"
        assert watermark(dst, "crm_push") is not None


def test_hashed_columns_are_masked_in_rejected_records(databases: dict[str, str], crm_empty: Any) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 3)
    execute(src, "UPDATE public.customers SET email = 'not-an-address' WHERE id = 2")
    spec = make_http_spec(transform={"hash": ["name"]}, target__rejects={"fail_run": False})
    assert sync(spec)["counts"]["rows_inserted"] == 2
    ((record, reason),) = rows(dst, "SELECT record, reason FROM syncgate.rejected_records")
    assert record["name"] == "***" and record["id"] == 2 and record["tier"] == 2
    assert reason == "422 email: email must contain '@'"


def test_rate_limits_and_server_errors_are_retried(databases: dict[str, str], crm_empty: Any) -> None:
    src = databases["src"]
    seed_customers(src, 8)
    # The first create meets all three; the client's fourth attempt goes through.
    crm_empty.admin.fault("429", count=1, path="/v1/customers", retry_after="0")
    crm_empty.admin.fault("500", count=1, path="/v1/customers")
    crm_empty.admin.fault("drop", count=1, path="/v1/customers")
    result = sync(make_http_spec(target__max_requests_per_second=200))
    assert result["counts"]["rows_inserted"] == 8
    stats = crm_empty.admin.stats()
    assert stats["faults_fired"] == 3 and stats["writes_applied"] == 8
    assert crm_customers(crm_empty) == source_customers(src)


def test_retries_running_out_fail_the_task_and_a_rerun_is_safe(
    databases: dict[str, str], crm_empty: Any
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 6)
    spec = make_http_spec()
    run, manifest = staged(spec)
    crm_empty.admin.fault("503", count=4, path="/v1/customers")
    with pytest.raises(RetriableError, match="gave up"):
        promote_module.promote(spec, run, manifest)
    assert crm_empty.admin.stats()["writes_applied"] == 0
    assert watermark(dst, "crm_push") is None
    assert promote_module.promote(spec, run, manifest)["rows_inserted"] == 6
    assert crm_empty.admin.stats()["writes_applied"] == 6


def test_unauthorised_api_fails_the_task_without_echoing_the_token(
    databases: dict[str, str], crm_empty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_customers(databases["src"], 2)
    spec = make_http_spec()
    run, manifest = staged(spec)
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", crm_empty.url.replace("http://", "http://:WrongToken123@"))
    with pytest.raises(FatalError) as raised:
        promote_module.promote(spec, run, manifest)
    assert "401" in str(raised.value) and "WrongToken123" not in str(raised.value)


def test_idempotency_keys_are_the_same_in_sql_and_python(databases: dict[str, str]) -> None:
    import psycopg
    from psycopg import sql

    key = {"id": 7, "region": "eu"}
    body = {"name": "Ä b", "tier": 2, "tags": ["x"], "address": {"country": "DE", "city": None}}
    with psycopg.connect(databases["dst"]) as conn:
        query = sql.SQL("SELECT {}, {}").format(
            key_sql("flow", "b1", "%(k)s::jsonb", "'update'", "%(b)s::jsonb"),
            key_sql("flow", "b1", "%(k)s::jsonb", "'delete'", "NULL::jsonb"),
        )
        found = conn.execute(query, {"k": json.dumps(key), "b": json.dumps(body)}).fetchone()
    assert found == (
        idempotency_key("flow", "b1", key, "update", body),
        idempotency_key("flow", "b1", key, "delete", None),
    )
    assert idempotency_key("flow", "b2", key, "update", body) != found[0]


def test_freshness_of_an_http_target_is_measured_on_what_the_api_accepted(
    databases: dict[str, str], crm_empty: Any
) -> None:
    import psycopg

    from syncgate.observe.probe import newest_values

    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 5)
    execute(src, "UPDATE public.customers SET updated_at = now() - interval '3 hours' WHERE id = 5")
    spec = make_http_spec(freshness={"column": "updated_at", "max_age": "1h", "warn_age": "30m"})
    first = sync(spec)
    row = audit(dst, first["run"].run_id, "crm_push")
    newest = rows(src, "SELECT max(updated_at) FROM public.customers")[0][0]
    assert row["high_water_mark"] is not None and row["lag_seconds"] is not None
    assert row["freshness_status"] == ("breach" if row["lag_seconds"] > 3600 else "ok")
    with psycopg.connect(dst) as conn:
        probe = newest_values(conn, [spec])["crm_push"]
    assert probe.problem is None and probe.newest == newest
