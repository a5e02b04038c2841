"""The retained-WAL rule: bytes and age thresholds, missing and orphaned slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncgate.connectors.postgres.cdc.status import SlotStatus
from syncgate.observe.retained_wal import retained_wal_finding
from syncgate.spec.alerts import Alerts

pytestmark = pytest.mark.unit
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ALERTS = Alerts.model_validate({"retained_wal": {"max_bytes": "1MiB", "max_age": "1h"}})


def status(retained: int = 0, waiting: timedelta | None = None, exists: bool = True) -> SlotStatus:
    return SlotStatus("syncgate_f", exists, False, retained, "0/1", NOW - waiting if waiting else None)


def test_a_slot_within_both_thresholds_is_fine() -> None:
    assert not retained_wal_finding("f", ALERTS, status(1000, timedelta(minutes=5)), NOW).active


def test_bytes_or_age_over_the_threshold_alert_and_say_which() -> None:
    big = retained_wal_finding("f", ALERTS, status(5 << 20), NOW)
    assert big.active and big.severity == "critical" and "retains 5.0 MiB of WAL" in big.summary
    old = retained_wal_finding("f", ALERTS, status(10, timedelta(hours=3)), NOW)
    assert old.active and "waiting for 3h" in old.summary


def test_missing_unmeasured_and_orphaned_slots() -> None:
    assert "cdc setup f" in retained_wal_finding("f", ALERTS, status(exists=False), NOW).summary
    assert retained_wal_finding("f", ALERTS, "source down", NOW).severity == "warning"
    orphan = retained_wal_finding("f", ALERTS, status(5 << 20), NOW, orphan=True)
    assert "pg_drop_replication_slot('syncgate_f')" in orphan.summary


def test_switched_off_or_not_a_wal_flow_never_alerts() -> None:
    off = Alerts.model_validate({"retained_wal": None})
    assert not retained_wal_finding("f", off, status(5 << 30), NOW).active
    assert not retained_wal_finding("f", ALERTS, None, NOW).active


def test_sizes_accept_units() -> None:
    assert Alerts.model_validate({"retained_wal": {"max_bytes": "2 GiB"}}).retained_wal.max_bytes == 2 << 30  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        Alerts.model_validate({"retained_wal": {"max_bytes": "lots"}})
