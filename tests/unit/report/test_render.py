from __future__ import annotations

import pytest

from syncgate.report.build import build_report
from syncgate.report.render import render_html

pytestmark = pytest.mark.unit

EVIL = '<script>alert("x")</script>'


def test_values_from_data_and_specs_are_escaped() -> None:
    quality = {
        "success": False,
        "results": [
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": EVIL, "value_set": [EVIL]},
             "success": False, "unexpected_count": 1, "partial_unexpected_list": [EVIL]},
        ],
    }  # fmt: skip
    html = render_html(build_report(flow_id="f", run_id=EVIL, quality=quality, error=EVIL))
    assert "<script" not in html and "&lt;script&gt;" in html


def test_a_report_with_every_part_missing_renders() -> None:
    html = render_html(build_report(flow_id="f", run_id="r"))
    assert "Sync report: f" in html and "not run" in html and "none" in html
    assert "<link" not in html and "src=" not in html  # self-contained: no external asset


def test_a_partial_dict_renders_without_failing() -> None:
    html = render_html({"flow_id": "f", "status": "running", "rows": {"extracted": 1234567}})
    assert "1,234,567" in html and "running" in html


def test_the_data_docs_link_is_relative() -> None:
    quality = {"verdict": "passed", "expectations": [], "docs_link": "../../docs/validations/f/x.html"}
    html = render_html({"flow_id": "f", "quality": quality})
    assert 'href="../../docs/validations/f/x.html"' in html


def test_pii_results_say_values_are_withheld() -> None:
    quality = {
        "success": False,
        "results": [{"type": "expect_column_values_to_match_regex", "kwargs": {"column": "email"},
                     "success": False, "unexpected_count": 3}],
    }  # fmt: skip
    html = render_html(build_report(flow_id="f", run_id="r", quality=quality, pii_columns=["email"]))
    assert "values withheld (PII)" in html


def test_a_sync_runs_conflicts_render_as_counts_and_rows() -> None:
    counts = {"total": 1, "parked": 1, "by_field_rule": [{"field": "tier", "rule": "manual", "count": 1}]}
    rows = [{"id": 9, "record_key": "[1]", "field": "tier", "rule": "manual", "status": "parked", "winner": None,
             "value": None, "side_values": {"a": EVIL, "b": "hmac:00ff"}}]  # fmt: skip
    html = render_html(
        build_report(
            flow_id="f", run_id="r", audit={"conflicts": counts}, sides=["a", "b"], conflict_rows=rows
        )
    )
    assert '<section style="margin-top:16px" id="conflicts">' in html and 'id="conflict-counts"' in html
    assert '<tr data-conflict="9">' in html and "hmac:00ff" in html and "<script" not in html
    assert "1 (1 parked)" in html and "a, b" in html


def test_a_one_way_run_has_no_conflicts_section() -> None:
    html = render_html(build_report(flow_id="f", run_id="r", audit={"conflicts": {"source_wins": 2}}))
    assert 'id="conflict-rows"' not in html and "source_wins" in html


def test_the_trigger_and_its_event_count_render() -> None:
    audit = {
        "status": "success",
        "run_type": "asset_triggered",
        "triggered_by": "webhook",
        "trigger_events": 12,
    }
    html = render_html(build_report(flow_id="f", run_id="r", audit=audit))
    assert "triggered by <strong>webhook</strong>" in html and "(12 events)" in html
    scheduled = render_html(
        build_report(flow_id="f", run_id="r", audit={"triggered_by": "schedule", "trigger_events": 0})
    )
    assert (
        "triggered by <strong>schedule</strong>" in scheduled
        and "event" not in scheduled.split("triggered by")[1][:60]
    )


def _watermark_cell(html: str) -> str:
    start = html.index('id="watermark-after">')
    return " ".join(html[start : html.index("</td>", start)].split())


def test_a_rejected_run_says_the_watermark_stayed_where_it_was() -> None:
    audit = {"status": "rejected", "watermark_before": "2026-01-01", "watermark_after": None}
    manifest = {"watermark_before": "2026-01-01", "watermark_after": "2026-01-09"}
    cell = _watermark_cell(render_html(build_report(flow_id="f", run_id="r", audit=audit, manifest=manifest)))
    assert "unchanged at 2026-01-01" in cell and "would have moved it to 2026-01-09" in cell
    assert "moved to" not in cell.replace("would have moved it to", "")


def test_a_promoted_run_says_where_the_watermark_moved() -> None:
    audit = {"status": "success", "watermark_before": "2026-01-01", "watermark_after": "2026-01-09"}
    cell = _watermark_cell(render_html(build_report(flow_id="f", run_id="r", audit=audit)))
    assert cell.endswith("moved to 2026-01-09") and "unchanged" not in cell


def test_refused_records_and_a_held_batch_have_their_own_names() -> None:
    audit = {"status": "rejected", "rows_rejected": 2, "rows_extracted": 1359}
    html = render_html(build_report(flow_id="f", run_id="r", audit=audit))
    assert "records refused at extract" in html and "batch held by the quality gate" in html
    assert (
        '<tr id="rows-held_by_gate"><th>batch held by the quality gate</th><td class="n">1,359</td>' in html
    )
    assert ">rejected<" not in html.split('id="rows-extracted"')[1].split("</table>")[0]


def test_a_first_run_whose_batch_was_rejected_has_no_watermark_yet() -> None:
    audit = {"status": "rejected", "watermark_before": None, "watermark_after": None}
    manifest = {"watermark_before": None, "watermark_after": "2026-01-09"}
    cell = _watermark_cell(render_html(build_report(flow_id="f", run_id="r", audit=audit, manifest=manifest)))
    assert (
        cell.split(">", 1)[1].strip().startswith("none")
        and "would have moved it to 2026-01-09; nothing was promoted" in cell
    )
