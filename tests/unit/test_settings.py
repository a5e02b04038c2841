"""Deployment settings come from environment variables, with defaults and bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncgate import settings

pytestmark = pytest.mark.unit

VARIABLES = [
    "SYNCGATE_FLOWS_DIR", "SYNCGATE_LANDING_URL", "SYNCGATE_REPORTS_DIR", "SYNCGATE_HASH_KEY",
    "SYNCGATE_BATCH_BYTES", "SYNCGATE_LOAD_STREAMS", "SYNCGATE_EXTRACT_DRIVER", "SYNCGATE_LOAD_FORMAT",
    "SYNCGATE_REPORT_RUNS", "SYNCGATE_MONITOR_SCHEDULE", "SYNCGATE_FRESHNESS_KEEP_DAYS",
    "SYNCGATE_WEBHOOK_MAX_BYTES", "SYNCGATE_WEBHOOK_REFUSALS_PER_MINUTE",
]  # fmt: skip


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(settings, "_loader_flows_dir", None)
    return monkeypatch


def test_the_defaults_follow_airflows_layout_not_the_engines(
    unset: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The same wherever the package lives: a checkout's include/ or an installed wheel.
    unset.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    unset.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path / "dags"))
    assert settings.flows_dir() == tmp_path / "dags" / "flows"
    assert settings.landing_url() == (tmp_path / "home" / "syncgate" / "landing").as_uri()
    assert settings.reports_dir() == tmp_path / "home" / "syncgate" / "reports"


def test_without_airflow_settings_the_defaults_are_airflows_own(unset: pytest.MonkeyPatch) -> None:
    from airflow.configuration import conf

    unset.delenv("AIRFLOW_HOME")
    unset.delenv("AIRFLOW__CORE__DAGS_FOLDER")
    assert settings.airflow_home() == Path.home() / "airflow"
    assert settings.dags_folder() == Path(conf.get("core", "dags_folder"))
    assert settings.reports_dir() == Path.home() / "airflow" / "syncgate" / "reports"


def test_the_loader_folder_applies_until_the_variable_names_one(
    unset: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings.use_flows_dir(tmp_path / "mine")
    assert settings.flows_dir() == tmp_path / "mine"
    unset.setenv("SYNCGATE_FLOWS_DIR", "~/flows")
    assert settings.flows_dir() == Path.home() / "flows"


def test_the_tuning_defaults(unset: pytest.MonkeyPatch) -> None:
    assert settings.hash_key() is None
    assert settings.batch_bytes() == 4 * 1024 * 1024
    assert settings.load_streams() == 2
    assert (settings.extract_driver(), settings.load_format()) == ("adbc", "binary")
    assert settings.report_runs() == 50 and settings.freshness_keep_days() == 30
    assert settings.monitor_schedule() == "*/5 * * * *"
    assert (settings.webhook_max_bytes(), settings.webhook_refusals_per_minute()) == (1024 * 1024, 10)


def test_every_setting_reads_its_variable(unset: pytest.MonkeyPatch, tmp_path: Path) -> None:
    values = {
        "SYNCGATE_FLOWS_DIR": str(tmp_path / "flows"), "SYNCGATE_LANDING_URL": "s3://bucket/landing",
        "SYNCGATE_REPORTS_DIR": str(tmp_path / "r"), "SYNCGATE_HASH_KEY": "k", "SYNCGATE_BATCH_BYTES": "1024",
        "SYNCGATE_LOAD_STREAMS": "4", "SYNCGATE_EXTRACT_DRIVER": " COPY ", "SYNCGATE_LOAD_FORMAT": "CSV",
        "SYNCGATE_REPORT_RUNS": "7", "SYNCGATE_MONITOR_SCHEDULE": "0 * * * *", "SYNCGATE_FRESHNESS_KEEP_DAYS": "3",
        "SYNCGATE_WEBHOOK_MAX_BYTES": "2048", "SYNCGATE_WEBHOOK_REFUSALS_PER_MINUTE": "5",
    }  # fmt: skip
    for name, value in values.items():
        unset.setenv(name, value)
    assert settings.flows_dir() == tmp_path / "flows" and settings.reports_dir() == tmp_path / "r"
    assert settings.landing_url() == "s3://bucket/landing" and settings.hash_key() == b"k"
    assert (settings.batch_bytes(), settings.load_streams(), settings.report_runs()) == (1024, 4, 7)
    assert (settings.extract_driver(), settings.load_format()) == ("copy", "csv")
    assert settings.monitor_schedule() == "0 * * * *" and settings.freshness_keep_days() == 3
    assert (settings.webhook_max_bytes(), settings.webhook_refusals_per_minute()) == (2048, 5)


def test_an_empty_hash_key_is_no_key(unset: pytest.MonkeyPatch) -> None:
    unset.setenv("SYNCGATE_HASH_KEY", "")
    assert settings.hash_key() is None


def test_counts_below_one_are_raised_to_one(unset: pytest.MonkeyPatch) -> None:
    for name in ("SYNCGATE_LOAD_STREAMS", "SYNCGATE_REPORT_RUNS", "SYNCGATE_FRESHNESS_KEEP_DAYS",
                 "SYNCGATE_WEBHOOK_MAX_BYTES", "SYNCGATE_WEBHOOK_REFUSALS_PER_MINUTE"):  # fmt: skip
        unset.setenv(name, "0")
    assert (settings.load_streams(), settings.report_runs(), settings.freshness_keep_days()) == (1, 1, 1)
    assert (settings.webhook_max_bytes(), settings.webhook_refusals_per_minute()) == (1, 1)


def test_an_unknown_driver_or_format_falls_back_to_the_default(unset: pytest.MonkeyPatch) -> None:
    unset.setenv("SYNCGATE_EXTRACT_DRIVER", "odbc")
    unset.setenv("SYNCGATE_LOAD_FORMAT", "parquet")
    assert (settings.extract_driver(), settings.load_format()) == ("adbc", "binary")
