"""Run reports written by the real stages: a success, an incremental update, a rejected batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import audit, execute, make_spec, new_run, seed_orders, sync

from syncgate.errors import DataQualityError
from syncgate.report.paths import docs_site_dir, report_files

pytestmark = pytest.mark.integration

COLUMNS = ["id", "status", "amount", "note", "updated_at"]  # "order" is left at the source


def read_report(flow_id: str, run_id: str) -> tuple[dict[str, Any], str]:
    json_path, html_path = report_files(flow_id, run_id)
    return json.loads(json_path.read_text()), html_path.read_text()


def test_a_promoted_run_reports_its_window_counts_bytes_fields_quality_and_durations(
    databases: dict[str, str],
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 300)
    spec = make_spec(source__columns=COLUMNS, transform__drop=["note"])

    first = sync(spec)
    report, html = read_report(spec.id, first["run"].run_id)
    record = audit(dst, first["run"].run_id)
    assert report["status"] == "success" and report["batch_id"] == first["batch_id"]
    assert report["rows"] == {
        "extracted": 300, "inserted": 300, "updated": 0, "deleted": 0, "refused": None, "held_by_gate": None,
    }  # fmt: skip
    assert report["window"]["cursor_from"] is None  # the first run is a full load
    assert report["window"]["watermark_after"] == record["watermark_after"] is not None
    assert report["window"]["watermark_moved"] is True
    assert f"moved to {record['watermark_after']}" in html
    # The audit row records every stage's time, transform's too (the report read it from there).
    assert all(record[f"{stage}_seconds"] is not None for stage in ("extract", "transform", "load", "verify"))
    assert report["durations"]["transform"] == record["transform_seconds"]
    assert report["fields_dropped"] == {"not_selected": ["order"], "transform_drop": ["note"]}
    landed, raw = report["bytes"]["landed_compressed"], report["bytes"]["uncompressed"]
    assert landed == first["bytes"] == record["bytes_landed"] and raw == first["bytes_uncompressed"]
    assert raw > landed > 0 and report["bytes"]["compression_ratio"] == pytest.approx(raw / landed)
    quality = report["quality"]
    assert quality["verdict"] == "passed"
    assert [e["type"] for e in quality["expectations"]] == [
        "expect_column_values_to_not_be_null",
        "expect_column_proportion_of_unique_values_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_column_values_to_be_in_set",
    ]
    assert all(e["success"] for e in quality["expectations"])
    assert (docs_site_dir(spec.id) / quality["docs_path"]).is_file()
    assert quality["docs_link"] == f"../../docs/{quality['docs_path']}"
    assert all(report["durations"][s] > 0 for s in ("extract", "transform", "load", "verify", "promote"))
    # Library imports are timed apart from each stage's work (a no-op once a process holds them).
    assert set(report["durations"]["startup"]) == {"extract", "transform", "load", "verify", "promote"}
    assert "library start-up" in html
    assert report["conflicts"] is None and report["freshness"]["status"] is None
    assert f'href="../../docs/{quality["docs_path"]}"' in html and "300" in html

    assert (report["triggered_by"], report["trigger_events"]) == (None, 0)  # new_run sets no trigger

    execute(src, "UPDATE public.orders SET status = 'X', updated_at = now() WHERE id BETWEEN 1 AND 7")
    second = sync(
        spec, new_run(spec, run_type="asset_triggered", triggered_by="wal+webhook", trigger_events=5)
    )
    report, html = read_report(spec.id, second["run"].run_id)
    assert report["rows"]["updated"] == 7 and report["rows"]["inserted"] == 0
    record = audit(dst, second["run"].run_id)
    assert (record["triggered_by"], record["trigger_events"]) == ("wal+webhook", 5)
    assert (report["triggered_by"], report["trigger_events"]) == ("wal+webhook", 5)
    assert "triggered by <strong>wal+webhook</strong>" in html
    assert report["window"]["cursor_from"] == report["window"]["watermark_before"] is not None


def test_a_rejected_run_reports_the_failed_expectation_and_its_data_docs(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 50)
    spec = make_spec(quality__sample_unexpected_values=3)
    sync(spec)
    execute(src, "UPDATE public.orders SET status = 'Q', updated_at = now() WHERE id IN (3, 4)")
    run = new_run(spec)
    with pytest.raises(DataQualityError):
        sync(spec, run)

    report, html = read_report(spec.id, run.run_id)
    record = audit(dst, run.run_id)
    assert report["status"] == "rejected"
    # The gate held the batch back whole; no record was refused one by one.
    assert report["rows"]["held_by_gate"] == record["rows_extracted"] >= 2  # and the row at the watermark
    assert report["rows"]["refused"] is None and "rejected" not in report["rows"]
    assert report["rows"]["inserted"] is None  # nothing was promoted
    # The watermark did not move (the audit row has none after): the report says so, and names
    # where the batch would have moved it apart.
    window = report["window"]
    assert record["watermark_after"] is None and record["transform_seconds"] is not None
    assert window["watermark_moved"] is False and window["watermark_after"] == window["watermark_before"]
    assert window["watermark_proposed"] not in (None, window["watermark_before"])
    assert f"unchanged at {window['watermark_before']}" in html
    assert f"would have moved it to {window['watermark_proposed']}" in html
    failed = [e for e in report["quality"]["expectations"] if not e["success"]]
    assert [(e["type"], e["columns"], e["unexpected_count"]) for e in failed] == [
        ("expect_column_values_to_be_in_set", ["status"], 2)
    ]
    assert failed[0]["unexpected_sample"] == ["Q", "Q"]  # status is not PII: samples are shown
    assert report["quality"]["verdict"] == "failed" and report["error"] == "quality gate failed"
    assert (docs_site_dir(spec.id) / report["quality"]["docs_path"]).is_file()
    assert report["durations"]["verify"] > 0 and report["durations"]["promote"] is None
    assert "rejected" in html and "expect_column_values_to_be_in_set" in html


def test_run_reports_are_pruned_with_the_gx_reports(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = databases["src"]
    seed_orders(src, 5)
    monkeypatch.setenv("SYNCGATE_REPORT_RUNS", "2")
    spec = make_spec()
    runs = [sync(spec)["run"].run_id for _ in range(3)]
    kept = sorted(p.name for p in report_files(spec.id, runs[0])[0].parent.iterdir())
    assert kept == sorted(
        name for run_id in runs[1:] for name in (p.name for p in report_files(spec.id, run_id))
    )
    gx_runs = Path(docs_site_dir(spec.id)).parents[1] / "validations" / spec.id
    assert len(list(gx_runs.iterdir())) == 2
