"""Markdown tables and target checks for the benchmark results."""

from __future__ import annotations

from typing import Any

from bench.sync import STAGES

# The goals the engine is measured against.
TARGET_PIPE_RATIO = 0.7  # full sync at least 0.7x as fast as the binary COPY pipe
TARGET_INCREMENTAL_SECONDS = 1.0  # 1% incremental: total stage work
TARGET_PEAK_RSS_MB = 400.0  # per task process
TARGET_VERIFY_SHARE = 0.25  # verify's share of the full sync's stage work


def derive(scenario: dict[str, Any], pipe: dict[str, Any] | None) -> dict[str, Any]:
    """Add rows/s, the ratio to the pipe and verify's share to a scenario result."""
    work = scenario["work_seconds"]
    verify = scenario["stages"]["verify"]["stage_seconds"]
    return {
        **scenario,
        "rows_per_second": scenario["rows"] / work if work else None,
        "pipe_ratio": pipe["seconds"] / work if work and pipe else None,
        "verify_share": verify / work if work else None,
        "peak_rss_mb": max(s["peak_rss_mb"] for s in scenario["stages"].values()),
    }


def _n(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    right = [i > 0 for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
            )
            + " |"
        )

    sep = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right, strict=True)
        )
        + "|"
    )
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def summary_table(pipe: dict[str, Any], scenarios: list[dict[str, Any]]) -> str:
    header = [
        "scenario", "rows", *(f"{s} s" for s in STAGES), "work s", "rows/s", "x pipe",
        "wall s", "peak RSS MB (e/t/l/v/p)", "verify share",
    ]  # fmt: skip
    rows = [
        [
            "binary COPY pipe",
            f"{pipe['rows']:,}",
            *("–" for _ in STAGES),
            _n(pipe["seconds"]),
            _n(pipe["rows_per_second"], 0),
            "1.00",
            _n(pipe["seconds"]),
            "–",
            "–",
        ]  # fmt: skip
    ]
    for sc in scenarios:
        st = sc["stages"]
        rows.append(
            [
                sc["scenario"],
                f"{sc['rows']:,}",
                *(_n(st[s]["stage_seconds"]) for s in STAGES),
                _n(sc["work_seconds"]),
                _n(sc["rows_per_second"], 0),
                _n(sc["pipe_ratio"]),
                _n(sc["wall_seconds"]),
                "/".join(f"{st[s]['peak_rss_mb']:.0f}" for s in STAGES),
                f"{sc['verify_share'] * 100:.0f}%" if sc["verify_share"] is not None else "–",
            ]  # fmt: skip
        )
    return _table(header, rows)


def stage_table(scenario: dict[str, Any]) -> str:
    header = [
        "stage",
        "in-stage s",
        "call s",
        "airflow warm-up s",
        "import s",
        "process wall s",
        "peak RSS MB",
    ]
    rows = [
        [
            s,
            _n(v["stage_seconds"]),
            _n(v["call_seconds"]),
            _n(v.get("warmup_seconds")),
            _n(v["import_seconds"]),
            _n(v["wall_seconds"]),
            _n(v["peak_rss_mb"], 0),
        ]  # fmt: skip
        for s, v in scenario["stages"].items()
    ]
    return _table(header, rows)


def targets(scenarios: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    full = scenarios.get("full_sync")
    incr = scenarios.get("incremental_1pct")
    if full:
        checks.append(
            {"target": f"full sync >= {TARGET_PIPE_RATIO}x COPY pipe", "measured": f"{full['pipe_ratio']:.2f}x",
             "ok": full["pipe_ratio"] >= TARGET_PIPE_RATIO}
        )  # fmt: skip
        checks.append(
            {"target": f"verify <= {TARGET_VERIFY_SHARE:.0%} of full sync work",
             "measured": f"{full['verify_share']:.0%}", "ok": full["verify_share"] <= TARGET_VERIFY_SHARE}
        )  # fmt: skip
    if incr:
        checks.append(
            {"target": f"1% incremental stage work <= {TARGET_INCREMENTAL_SECONDS:g} s",
             "measured": f"{incr['work_seconds']:.2f} s", "ok": incr["work_seconds"] <= TARGET_INCREMENTAL_SECONDS}
        )  # fmt: skip
    if scenarios:
        worst = max(scenarios.values(), key=lambda sc: sc["peak_rss_mb"])
        stage = max(worst["stages"], key=lambda s: worst["stages"][s]["peak_rss_mb"])
        checks.append(
            {"target": f"peak RSS < {TARGET_PEAK_RSS_MB:g} MB per task",
             "measured": f"{worst['peak_rss_mb']:.0f} MB ({worst['scenario']}/{stage})",
             "ok": worst["peak_rss_mb"] < TARGET_PEAK_RSS_MB}
        )  # fmt: skip
    return checks


def targets_table(checks: list[dict[str, Any]]) -> str:
    return _table(
        ["target", "measured", "met"],
        [[c["target"], c["measured"], "yes" if c["ok"] else "NO"] for c in checks],
    )
