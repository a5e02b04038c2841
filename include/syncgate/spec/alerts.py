"""Alert settings: a defaults file for every flow plus a per-flow ``alerts:`` override.

The defaults live in ``<flows dir>/_defaults.yml`` under ``alerts:``; a flow's own ``alerts:``
replaces the keys it sets (``lag_spike`` is merged key by key). Settings carry connection ids
and recipient addresses only: webhook URLs and SMTP passwords live in Airflow connections.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from syncgate.spec.durations import parse_duration

_ConnId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=250)]
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


def _email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("not an e-mail address (one address per list item)")  # no echo: PII
    return value


_Email = Annotated[str, AfterValidator(_email)]
_Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _duration_or_zero(value: object) -> object:
    """A duration, or zero (``0``, ``0s``): no grace at all."""
    if value == timedelta(0) or (
        isinstance(value, (int, float, str)) and not isinstance(value, bool)
        and str(value).strip().lower() in ("0", "0s", "0.0")
    ):  # fmt: skip
        return timedelta(0)
    return parse_duration(value)  # type: ignore[arg-type]


_Grace = Annotated[timedelta, BeforeValidator(_duration_or_zero)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookNotifier(_Strict):
    """POST a Slack-compatible JSON body to the URL held by an HTTP connection."""

    type: Literal["webhook"]
    conn_id: _ConnId


class EmailNotifier(_Strict):
    """Send an e-mail through an SMTP connection."""

    type: Literal["email"]
    conn_id: _ConnId
    to: Annotated[list[_Email], Field(min_length=1)]


Notifier = Annotated[WebhookNotifier | EmailNotifier, Field(discriminator="type")]


class LagSpike(_Strict):
    """Alert when a run's lag or duration exceeds ``factor`` x the median of its last ``window`` runs."""

    factor: Annotated[float, Field(gt=1, le=1000)] = 3.0
    window: Annotated[int, Field(ge=2, le=500)] = 20
    min_runs: Annotated[int, Field(ge=1, le=500)] = 5
    # Below this a spike is noise (5 s -> 20 s of lag is 4x but harmless).
    min_seconds: _Duration = timedelta(minutes=1)

    @model_validator(mode="after")
    def _check(self) -> LagSpike:
        # Only when both are given here: a flow may raise min_runs under a wider default window.
        if {"min_runs", "window"} <= self.model_fields_set and self.min_runs > self.window:
            raise ValueError("`min_runs` cannot exceed `window`")
        return self


def _bytes(value: object) -> object:
    """``1073741824``, ``512MiB``, ``1 GiB``, ``2GB`` (GB read as GiB: WAL is sized in powers of 2)."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]i?B|B)?\s*", value, re.I)
    if not match:
        raise ValueError("a size in bytes, or a number with KiB, MiB, GiB or TiB")
    unit = (match.group(2) or "B").upper().replace("I", "")
    return int(match.group(1)) * 1024 ** "BKMGT".index(unit[0])


class RetainedWal(_Strict):
    """Alert when a wal flow's replication slot holds back more WAL than ``max_bytes``, or has
    had a change waiting for longer than ``max_age`` (a paused or deleted flow's slot)."""

    max_bytes: Annotated[int, BeforeValidator(_bytes), Field(ge=1)] = 1 << 30
    max_age: _Duration = timedelta(hours=1)


class Alerts(_Strict):
    """Who is told about incidents, how often, and which rules raise them.

    ``consecutive_failures: null`` and ``lag_spike: null`` switch those rules off;
    ``first_sync_grace: 0s`` alerts on a flow that has not promoted yet at the first check.
    """

    notifiers: list[Notifier] = Field(default_factory=list)
    renotify_every: _Duration = timedelta(hours=1)
    consecutive_failures: Annotated[int, Field(ge=1, le=1000)] | None = 3
    lag_spike: LagSpike | None = Field(default_factory=LagSpike)
    # Only wal flows (``source.capture: wal``) have a slot to watch.
    retained_wal: RetainedWal | None = Field(default_factory=RetainedWal)
    # How long a flow that has never promoted is "pending first sync" rather than late, counted
    # from when syncgate first saw it. None: the flow's freshness ``max_age``; 0s: no grace.
    first_sync_grace: _Grace | None = None


class FlowDefaults(_Strict):
    """The defaults file (``_defaults.yml`` in the flows folder)."""

    alerts: Alerts = Field(default_factory=Alerts)


def resolve_alerts(defaults: Alerts, override: Alerts | None) -> Alerts:
    """The flow's effective settings: the keys its own ``alerts:`` sets win over the defaults."""
    if override is None:
        return defaults
    updates = {name: getattr(override, name) for name in override.model_fields_set}
    spike = override.lag_spike
    if "lag_spike" in updates and spike is not None and defaults.lag_spike is not None:
        own = spike.model_fields_set
        merged = {**defaults.lag_spike.model_dump(), **{name: getattr(spike, name) for name in own}}
        # The flow's own values were valid together; one it did not set yields to one it did
        # (a flow's `window: 3` under a default `min_runs: 5` must not break the monitor).
        if merged["min_runs"] > merged["window"]:
            if "window" in own:
                merged["min_runs"] = merged["window"]
            else:
                merged["window"] = merged["min_runs"]
        updates["lag_spike"] = LagSpike.model_validate(merged)
    return Alerts.model_validate({**defaults.model_dump(), **updates})
