"""The first-sync grace: its default, its override, and when a flow is pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncgate.observe.first_sync import FirstSync, grace, is_pending
from syncgate.spec.alerts import Alerts, resolve_alerts
from syncgate.spec.model import Freshness

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SLA = Freshness.model_validate({"column": "updated_at", "max_age": "2h"})


def test_the_default_grace_is_the_freshness_max_age_and_a_setting_wins() -> None:
    assert grace(SLA, Alerts()) == timedelta(hours=2)
    assert grace(SLA, Alerts.model_validate({"first_sync_grace": "30m"})) == timedelta(minutes=30)
    assert grace(SLA, Alerts.model_validate({"first_sync_grace": "0s"})) == timedelta(0)
    assert grace(SLA, Alerts.model_validate({"first_sync_grace": 0})) == timedelta(0)


def test_a_flow_override_survives_merging_with_the_defaults() -> None:
    defaults = Alerts.model_validate({"first_sync_grace": "0s"})
    assert resolve_alerts(
        defaults, Alerts.model_validate({"renotify_every": "2h"})
    ).first_sync_grace == timedelta(0)
    own = resolve_alerts(defaults, Alerts.model_validate({"first_sync_grace": "6h"}))
    assert own.first_sync_grace == timedelta(hours=6)


@pytest.mark.parametrize("bad", ["-5m", "soon", True])
def test_a_bad_grace_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        Alerts.model_validate({"first_sync_grace": bad})


def test_pending_only_while_never_promoted_and_inside_the_grace() -> None:
    alerts = Alerts()
    assert is_pending(FirstSync(NOW - timedelta(minutes=1), False), SLA, alerts, NOW)
    assert not is_pending(FirstSync(NOW - timedelta(hours=2), False), SLA, alerts, NOW)
    assert not is_pending(FirstSync(NOW - timedelta(minutes=1), True), SLA, alerts, NOW)
    assert not is_pending(None, SLA, alerts, NOW)
    # A first sighting "in the future" (clock skew between monitor hosts) waits no less than zero.
    assert FirstSync(NOW + timedelta(minutes=5), False).waited(NOW) == timedelta(0)
