from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from syncgate.errors import SpecError
from syncgate.spec.alerts import (
    Alerts,
    EmailNotifier,
    FlowDefaults,
    LagSpike,
    WebhookNotifier,
    resolve_alerts,
)
from syncgate.spec.loader import load_defaults, load_specs
from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.unit

DEFAULTS = Alerts.model_validate(
    {
        "notifiers": [
            {"type": "webhook", "conn_id": "hook"},
            {"type": "email", "conn_id": "smtp", "to": ["a@b.io"]},
        ],
        "renotify_every": "2h",
        "consecutive_failures": 4,
        "lag_spike": {"factor": 5, "window": 30, "min_runs": 10},
    }
)


def test_built_in_defaults() -> None:
    alerts = Alerts()
    assert alerts.notifiers == [] and alerts.renotify_every == timedelta(hours=1)
    assert alerts.consecutive_failures == 3
    assert alerts.lag_spike == LagSpike(factor=3, window=20, min_runs=5, min_seconds=timedelta(minutes=1))


def test_no_override_means_the_defaults() -> None:
    assert resolve_alerts(DEFAULTS, None) is DEFAULTS


def test_a_flow_overrides_only_the_keys_it_sets() -> None:
    mine = Alerts.model_validate({"consecutive_failures": 1, "lag_spike": {"factor": 2}})
    merged = resolve_alerts(DEFAULTS, mine)
    assert merged.consecutive_failures == 1
    assert merged.notifiers == DEFAULTS.notifiers and merged.renotify_every == timedelta(hours=2)
    # lag_spike merges key by key: the default window and min_runs stay.
    assert merged.lag_spike == LagSpike(factor=2, window=30, min_runs=10)


def test_a_flow_can_switch_rules_and_notifiers_off() -> None:
    merged = resolve_alerts(
        DEFAULTS, Alerts.model_validate({"notifiers": [], "lag_spike": None, "consecutive_failures": None})
    )
    assert merged.notifiers == [] and merged.lag_spike is None and merged.consecutive_failures is None


def test_a_flow_replaces_the_notifier_list() -> None:
    merged = resolve_alerts(
        DEFAULTS, Alerts.model_validate({"notifiers": [{"type": "webhook", "conn_id": "team"}]})
    )
    assert merged.notifiers == [WebhookNotifier(type="webhook", conn_id="team")]


def test_min_runs_may_exceed_the_default_window_only_under_a_wider_one() -> None:
    merged = resolve_alerts(DEFAULTS, Alerts.model_validate({"lag_spike": {"min_runs": 25}}))
    assert merged.lag_spike is not None and merged.lag_spike.min_runs == 25 and merged.lag_spike.window == 30
    with pytest.raises(ValueError, match="`min_runs` cannot exceed `window`"):
        LagSpike(window=5, min_runs=6)


def test_the_flow_spec_takes_an_alerts_key() -> None:
    spec = FlowSpec.model_validate(
        {
            "id": "f",
            "source": {"type": "postgres", "conn_id": "s", "table": "t"},
            "target": {"type": "postgres", "conn_id": "d", "table": "t", "write": "append"},
            "alerts": {"notifiers": [{"type": "email", "conn_id": "smtp", "to": ["x@y.org"]}]},
        }
    )
    assert spec.alerts is not None and spec.alerts.notifiers == [
        EmailNotifier(type="email", conn_id="smtp", to=["x@y.org"])
    ]
    assert spec.alerts.model_fields_set == {"notifiers"}


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(textwrap.dedent(text))


def test_defaults_file_loads_and_is_not_a_flow(tmp_path: Path) -> None:
    write(tmp_path, "_defaults.yml", "alerts: {renotify_every: 15m, consecutive_failures: 2}\n")
    write(tmp_path, "_notes.yaml", "not: a flow\n")
    assert load_specs(tmp_path) == []
    defaults = load_defaults(tmp_path)
    assert (
        defaults.alerts.renotify_every == timedelta(minutes=15) and defaults.alerts.consecutive_failures == 2
    )


def test_missing_or_empty_defaults_file_means_built_in_defaults(tmp_path: Path) -> None:
    assert load_defaults(tmp_path).alerts == Alerts()
    write(tmp_path, "_defaults.yml", "# nothing yet\n")
    assert load_defaults(tmp_path).alerts == Alerts()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("alerts: {renotify_every: soon}", "alerts.renotify_every: 'soon' is not a duration"),
        (
            "alerts: {notifiers: [{type: pager, conn_id: x}]}",
            "alerts.notifiers.0: unknown `type`; expected one of 'webhook', 'email'",
        ),
        ("alerts: {notifiers: [{type: email, conn_id: x}]}", "alerts.notifiers.0.email.to: Field required"),
        (
            "alerts: {notifiers: [{type: email, conn_id: x, to: []}]}",
            "alerts.notifiers.0.email.to: List should have at least 1 item",
        ),
        (
            "alerts: {notifiers: [{type: webhook, conn_id: 'http://x'}]}",
            "alerts.notifiers.0.webhook.conn_id: String should match pattern",
        ),
        (
            "alerts: {notifiers: [{type: webhook, conn_id: x, url: y}]}",
            "alerts.notifiers.0.webhook.url: unknown key",
        ),
        ("alerts: {lag_spike: {factor: 1}}", "alerts.lag_spike.factor: Input should be greater than 1"),
        (
            "alerts: {consecutive_failures: 0}",
            "alerts.consecutive_failures: Input should be greater than or equal to 1",
        ),
        ("alert: {}", "alert: unknown key"),
        ("[1, 2]", "the file must hold a mapping"),
        ("alerts: {notifiers: [", "cannot read YAML"),
    ],
)
def test_a_bad_defaults_file_names_file_and_field(tmp_path: Path, text: str, problem: str) -> None:
    write(tmp_path, "_defaults.yml", text + "\n")
    with pytest.raises(SpecError) as caught:
        load_defaults(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"invalid defaults file {tmp_path / '_defaults.yml'}:")
    assert problem in message, message


def test_bad_addresses_are_not_echoed(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_defaults.yml",
        "alerts: {notifiers: [{type: email, conn_id: x, to: [jane.doe-at-corp]}]}\n",
    )
    with pytest.raises(SpecError) as caught:
        load_defaults(tmp_path)
    assert "not an e-mail address" in str(caught.value) and "jane.doe" not in str(caught.value)


# A flow's own `lag_spike` is valid on its own, but merged over the defaults it could pair its
# `window` with a default `min_runs` that exceeds it: the value the flow set wins, the other yields.
SHIPPED_LIKE = FlowDefaults.model_validate(
    {"alerts": {"lag_spike": {"factor": 3, "window": 20, "min_runs": 5, "min_seconds": "1m"}}}
).alerts


def test_a_flow_window_below_the_default_min_runs_lowers_min_runs_to_the_window() -> None:
    merged = resolve_alerts(SHIPPED_LIKE, Alerts.model_validate({"lag_spike": {"window": 3}}))
    assert merged.lag_spike == LagSpike(factor=3, window=3, min_runs=3, min_seconds=timedelta(minutes=1))


def test_a_flow_min_runs_above_the_default_window_widens_the_window() -> None:
    merged = resolve_alerts(SHIPPED_LIKE, Alerts.model_validate({"lag_spike": {"min_runs": 30}}))
    assert merged.lag_spike == LagSpike(factor=3, window=30, min_runs=30, min_seconds=timedelta(minutes=1))
