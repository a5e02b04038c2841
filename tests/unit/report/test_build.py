from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest

from syncgate.report.build import build_report, jsonable

pytestmark = pytest.mark.unit

AUDIT = {
    "flow_id": "f",
    "run_id": "manual__1",
    "status": "success",
    "run_type": "manual",
    "batch_id": "b1",
    "window_from": "2026-01-01 00:00:00+00",
    "window_to": None,
    "watermark_before": "2026-01-01 00:00:00+00",
    "watermark_after": "2026-01-02 00:00:00+00",
    "rows_extracted": 10,
    "rows_inserted": 4,
    "rows_updated": 3,
    "rows_deleted": 1,
    "rows_rejected": None,
    "bytes_landed": 1000,
    "extract_seconds": 1.5,
    "transform_seconds": None,
    "load_seconds": 0.5,
    "verify_seconds": 2.0,
    "promote_seconds": 0.25,
    "quality_verdict": "passed",
    "started_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    "lag_seconds": decimal.Decimal("12.5"),
    "high_water_mark": "2026-01-02 00:00:00+00",
    "freshness_status": "ok",
    "conflicts": {"source_wins": 2},
}
MANIFEST = {
    "batch_id": "b1",
    "rows": 10,
    "bytes": 1000,
    "bytes_uncompressed": 4000,
    "fields_unselected": ["secret_col"],
    "seconds": {"extract": 1.4, "transform": 0.1, "verify_startup": 3.0, "load_startup": 0.2},
    "window": {"from": "x", "to": None},
}
QUALITY = {
    "success": False,
    "report": None,
    "results": [
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "status", "value_set": ["a"]},
         "success": False, "unexpected_count": 2, "unexpected_percent": 20.0, "partial_unexpected_list": ["b", "c"]},
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "email", "regex": "x"},
         "success": False, "unexpected_count": 1, "partial_unexpected_list": ["leak@example.com"],
         "observed_value": "leak@example.com"},
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 10}, "success": True, "observed_value": 10},
    ],
}  # fmt: skip


def test_every_part_is_joined_and_json_safe() -> None:
    report = build_report(
        flow_id="f", run_id="manual__1", audit=AUDIT, manifest=MANIFEST, quality=QUALITY,
        transform_drop=["note"], pii_columns=["email"],
    )  # fmt: skip
    assert json.loads(json.dumps(report)) == report
    assert report["status"] == "success" and report["report_url"] == "/syncgate/flows/f/runs/manual__1/report"
    assert report["rows"] == {
        "extracted": 10, "inserted": 4, "updated": 3, "deleted": 1, "refused": None, "held_by_gate": None,
    }  # fmt: skip
    assert report["window"]["watermark_after"] == "2026-01-02 00:00:00+00"
    assert report["window"]["watermark_moved"] is True
    assert report["window"]["cursor_from"] == "2026-01-01 00:00:00+00"  # the audit row wins
    assert report["bytes"] == {"landed_compressed": 1000, "uncompressed": 4000, "compression_ratio": 4.0}
    assert report["fields_dropped"] == {"not_selected": ["secret_col"], "transform_drop": ["note"]}
    assert report["durations"]["extract"] == 1.5 and report["durations"]["transform"] == 0.1
    assert report["durations"]["total"] == pytest.approx(1.5 + 0.1 + 0.5 + 2.0 + 0.25)
    assert report["durations"]["startup"] == {"verify": 3.0, "load": 0.2}
    assert report["freshness"] == {
        "high_water_mark": "2026-01-02 00:00:00+00",
        "lag_seconds": 12.5,
        "status": "ok",
    }
    assert report["conflicts"] == {"source_wins": 2} and report["started_at"] == "2026-01-02T00:00:00+00:00"


def test_pii_results_keep_counts_only_and_others_keep_their_samples() -> None:
    report = build_report(flow_id="f", run_id="r", quality=QUALITY, pii_columns=["email"])
    status, email, count = report["quality"]["expectations"]
    assert status["unexpected_sample"] == ["b", "c"] and not status["pii"]
    assert email["pii"] and email["unexpected_count"] == 1
    assert "leak@example.com" not in json.dumps(report)
    assert count["observed_value"] == 10 and count["columns"] == []


def test_a_run_with_nothing_recorded_still_builds() -> None:
    report = build_report(flow_id="f", run_id="r", error="extract: OperationalError: no route")
    assert report["status"] == "failed" and report["error"] == "extract: OperationalError: no route"
    assert report["rows"]["extracted"] is None and report["bytes"]["compression_ratio"] is None
    assert report["quality"] == {"verdict": None, "expectations": [], "docs_path": None, "docs_link": None}
    assert report["durations"]["total"] is None and report["conflicts"] is None


def test_failed_expectations_of_the_audit_row_stand_in_for_a_missing_gx_result() -> None:
    failed = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}, "success": False}]
    report = build_report(
        flow_id="f", run_id="r", audit={"status": "rejected", "failed_expectations": failed}
    )
    assert [e["type"] for e in report["quality"]["expectations"]] == ["expect_column_values_to_not_be_null"]


def test_jsonable_turns_database_values_into_json() -> None:
    assert jsonable({"d": decimal.Decimal("NaN"), "f": float("inf"), "t": dt.timedelta(seconds=3), "s": {1}}) == {
        "d": "NaN", "f": "inf", "t": 3.0, "s": [1],
    }  # fmt: skip


SYNC_COUNTS = {"total": 2, "parked": 1, "by_field_rule": [{"field": "name", "rule": "newest_wins", "count": 1},
                                                        {"field": "tier", "rule": "manual", "count": 1}]}  # fmt: skip
SYNC_ROWS = [
    {"id": 5, "record_key": "[2]", "field": "tier", "rule": "manual", "status": "parked", "winner": None,
     "value": None, "side_values": {"a": "x", "b": "y"}, "detected_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
     "flow_id": "f", "not_reported": "z"},
    {"id": 4, "record_key": "[1]", "field": "name", "rule": "newest_wins", "status": "resolved", "winner": "b",
     "value": "B", "side_values": {"a": "A", "b": "B"}, "detected_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
]  # fmt: skip


def test_a_sync_run_reports_its_sides_and_conflicts_counts_and_rows() -> None:
    report = build_report(
        flow_id="f", run_id="r", audit={"conflicts": SYNC_COUNTS}, sides=["a", "b"], conflict_rows=SYNC_ROWS
    )
    assert report["sides"] == ["a", "b"]
    conflicts = report["conflicts"]
    assert (conflicts["total"], conflicts["parked"]) == (2, 1) and conflicts["by_field_rule"] == SYNC_COUNTS[
        "by_field_rule"
    ]
    assert [(r["id"], r["status"], r["winner"]) for r in conflicts["rows"]] == [
        (5, "parked", None),
        (4, "resolved", "b"),
    ]
    assert (
        conflicts["rows"][0]["detected_at"] == "2026-01-02T00:00:00+00:00"
        and "not_reported" not in conflicts["rows"][0]
    )


def test_a_sync_run_without_an_audit_row_counts_its_rows() -> None:
    conflicts = build_report(flow_id="f", run_id="r", conflict_rows=SYNC_ROWS)["conflicts"]
    assert (conflicts["total"], conflicts["parked"], conflicts["by_field_rule"]) == (2, 1, [])
    assert "sides" not in build_report(flow_id="f", run_id="r")


def test_the_report_says_what_triggered_the_run_and_how_many_events() -> None:
    report = build_report(
        flow_id="f", run_id="r", audit={**AUDIT, "triggered_by": "wal+webhook", "trigger_events": 7}
    )
    assert (report["triggered_by"], report["trigger_events"]) == ("wal+webhook", 7)
    assert build_report(flow_id="f", run_id="r")["triggered_by"] is None


def test_a_rejected_run_reports_the_watermark_unchanged_and_the_batchs_proposal_apart() -> None:
    # The audit row of a rejected run has no watermark_after; the manifest still holds where
    # the batch would have moved it. That value must not be reported as the watermark after.
    audit = {**AUDIT, "status": "rejected", "watermark_after": None, "quality_verdict": "failed"}
    manifest = {
        **MANIFEST,
        "watermark_before": "2026-01-01 00:00:00+00",
        "watermark_after": "2026-01-05 00:00:00+00",
    }
    window = build_report(flow_id="f", run_id="r", audit=audit, manifest=manifest)["window"]
    assert window["watermark_after"] == window["watermark_before"] == "2026-01-01 00:00:00+00"
    assert window["watermark_moved"] is False
    assert window["watermark_proposed"] == "2026-01-05 00:00:00+00"


def test_a_running_run_has_no_watermark_after_yet() -> None:
    running = {**AUDIT, "status": "running", "watermark_after": None}
    window = build_report(flow_id="f", run_id="r", audit=running, manifest={"watermark_after": "x"})["window"]
    assert window["watermark_after"] is None and window["watermark_moved"] is None


def test_records_refused_one_by_one_and_a_batch_held_by_the_gate_are_counted_apart() -> None:
    # An HTTP source refused 2 records at extract; the gate then held back the other 10.
    audit = {
        **AUDIT,
        "status": "rejected",
        "rows_rejected": 2,
        "rows_inserted": None,
        "quality_verdict": "failed",
    }
    rows = build_report(flow_id="f", run_id="r", audit=audit, manifest={**MANIFEST, "staged_rows": 10})[
        "rows"
    ]
    assert (rows["refused"], rows["held_by_gate"]) == (2, 10)
    assert "rejected" not in rows  # one word meant both: neither is called that any more
    ok = build_report(flow_id="f", run_id="r", audit={**AUDIT, "rows_rejected": 2}, manifest=MANIFEST)["rows"]
    assert (ok["refused"], ok["held_by_gate"]) == (2, None)


def test_a_superseded_run_says_a_newer_batch_moved_the_watermark_not_that_it_stayed() -> None:
    """A batch overtaken by a newer promoted one (overlapping runs) wrote nothing; the watermark
    did move, by the newer run: neither 'moved to' nor 'unchanged' would be true of this run."""
    from syncgate.report.render import render_html

    audit = {**AUDIT, "status": "superseded", "watermark_after": "2026-01-01 00:00:00+00",
             "error": "flow 'f': this batch was read before a newer one that has already been promoted"}  # fmt: skip
    report = build_report(flow_id="f", run_id="r", audit=audit, manifest={**MANIFEST, "watermark_after": "x"})
    assert report["window"]["watermark_moved"] is None and report["window"]["watermark_after"] is None
    page = render_html(report)
    assert "not moved by this run: a newer batch" in page
    assert "Superseded: nothing written" in page and "unchanged at" not in page
