"""A flow's event triggers and debounce: what makes it run besides its ``schedule``.

```yaml
triggers:
  - {type: webhook, secret_conn_id: crm_webhook}   # signed HTTP notifications (POST /syncgate/webhooks/<id>)
  - {type: postgres_notify, channel: erp_orders}   # LISTEN on the source's connection
  - {type: wal}                                    # pending changes in the flow's slot (source.capture: wal)
debounce: 2s                                       # a burst within it becomes one run
```

The names are a public contract. ``schedule`` stays: it is the reconciliation poll that
catches whatever an event missed. A flow has at most one trigger of each type (the watcher of
a type is named after it, ``<flow id>__<type>``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints

from syncgate.spec.durations import parse_duration
from syncgate.spec.fields import Name, StrictModel

if TYPE_CHECKING:
    from syncgate.spec.fields import SourceSpec

TRIGGER_TYPES = ("webhook", "postgres_notify", "wal")
DEFAULT_DEBOUNCE = timedelta(seconds=2)
# Longer than this is a schedule, not a debounce: events would wait minutes for their run.
MAX_DEBOUNCE = timedelta(minutes=5)

# Airflow connection ids are free text in Airflow; these are the characters syncgate accepts.
ConnId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=250)]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_MILLIS = re.compile(r"^\s*(\d+)\s*ms\s*$")


def parse_debounce(value: Any) -> timedelta:
    """A duration from 0 (no coalescing) up to ``MAX_DEBOUNCE``: ``2s``, ``500ms``, ``0``, seconds."""
    if isinstance(value, str) and (millis := _MILLIS.match(value.lower())):
        delay = parse_duration(int(millis.group(1)) / 1000) if int(millis.group(1)) else timedelta(0)
    elif value in (0, 0.0, "0", "0s") and not isinstance(value, bool):
        delay = timedelta(0)
    else:
        delay = parse_duration(value)
    if delay > MAX_DEBOUNCE:
        raise ValueError(
            f"at most {int(MAX_DEBOUNCE.total_seconds() // 60)}m (a longer wait is a `schedule`)"
        )
    return delay


Debounce = Annotated[timedelta, BeforeValidator(parse_debounce)]


def check_channel(value: Any) -> Any:
    """A plain PostgreSQL identifier: LISTEN quotes it and pg_notify takes it as text, so case matters."""
    if isinstance(value, str) and not (_IDENTIFIER.match(value) and len(value.encode()) <= 63):
        raise ValueError(
            f"{value!r} is not a PostgreSQL identifier (a letter or _, then letters, digits, _ or $; "
            "at most 63 characters)"
        )
    return value


Channel = Annotated[str, BeforeValidator(check_channel)]


class WebhookTrigger(StrictModel):
    """Signed Standard Webhooks notifications to ``POST /syncgate/webhooks/<flow id>``."""

    type: Literal["webhook"]
    # The Airflow connection whose password is the ``whsec_...`` secret (extra ``secrets``: rotation).
    secret_conn_id: ConnId


class PostgresNotifyTrigger(StrictModel):
    """LISTEN on ``channel``; ``python -m syncgate notify-sql <flow id>`` prints the notifying trigger."""

    type: Literal["postgres_notify"]
    channel: Channel
    # Default: the one-way flow's PostgreSQL source connection; a sync flow names a `side` or this.
    conn_id: ConnId | None = None
    side: Name | None = None


class WalTrigger(StrictModel):
    """Fires when the flow's replication slot holds changes beyond the last firing."""

    type: Literal["wal"]
    # Sync flows: the side whose source captures by WAL.
    side: Name | None = None


TriggerSpec = Annotated[WebhookTrigger | PostgresNotifyTrigger | WalTrigger, Field(discriminator="type")]


def check_flow_triggers(triggers: list[Any], source: SourceSpec) -> None:
    """Rules of a one-way flow's triggers; ``ValueError`` naming the field (``triggers.0.channel``)."""
    _check_unique(triggers)
    for index, trigger in enumerate(triggers):
        where = f"triggers.{index}"
        if getattr(trigger, "side", None) is not None:
            raise ValueError(f"{where}.side: only sync flows have sides")
        if isinstance(trigger, PostgresNotifyTrigger) and trigger.conn_id is None and not source.listens:
            raise ValueError(
                f"{where}.conn_id: required, the flow's source is {source.type}, not postgres "
                "(name the PostgreSQL connection to LISTEN on)"
            )
        if isinstance(trigger, WalTrigger):
            _check_wal_source(where, source)


def check_sync_triggers(triggers: list[Any], sides: dict[str, SourceSpec]) -> None:
    """Rules of a sync flow's triggers: ``side`` names a side of the flow."""
    _check_unique(triggers)
    for index, trigger in enumerate(triggers):
        where = f"triggers.{index}"
        side = getattr(trigger, "side", None)
        if side is not None and side not in sides:
            raise ValueError(f"{where}.side: {side!r} is not a side of the flow ({', '.join(sides)})")
        if isinstance(trigger, PostgresNotifyTrigger):
            if (side is None) == (trigger.conn_id is None):
                raise ValueError(f"{where}: give exactly one of `side` (a postgres side) or `conn_id`")
            if side is not None and not sides[side].listens:
                raise ValueError(f"{where}.side: side {side!r} is {sides[side].type}, not postgres")
        if isinstance(trigger, WalTrigger):
            if side is None:
                raise ValueError(
                    f"{where}.side: required in a sync flow (the side whose source has `capture: wal`)"
                )
            _check_wal_source(f"{where}.side", sides[side])


def _check_unique(triggers: list[Any]) -> None:
    seen: dict[str, int] = {}
    for index, trigger in enumerate(triggers):
        kind = str(trigger.type)
        if kind in seen:
            raise ValueError(
                f"triggers.{index}: a second `{kind}` trigger (triggers.{seen[kind]}); "
                "a flow has at most one of each type"
            )
        seen[kind] = index


def _check_wal_source(where: str, source: SourceSpec) -> None:
    # `capture` belongs to the PostgreSQL connector's spec; any other source polls a cursor.
    capture = getattr(source, "capture", "cursor")
    if capture != "wal":
        raise ValueError(
            f"{where}: a `wal` trigger needs a postgres source with `capture: wal` (it has {capture!r})"
        )


def notify_connection(spec: Any, trigger: PostgresNotifyTrigger) -> str:
    """The connection a notify trigger LISTENs on: its ``conn_id``, its side's, or the source's."""
    if trigger.conn_id is not None:
        return trigger.conn_id
    source = spec.side(trigger.side).source if trigger.side is not None else spec.source
    return str(source.conn_id)


def notify_source(spec: Any, trigger: PostgresNotifyTrigger) -> Any | None:
    """The PostgreSQL source whose table the notifying trigger goes on, or None (not postgres)."""
    source = spec.side(trigger.side).source if trigger.side is not None else getattr(spec, "source", None)
    return source if source is not None and source.listens else None
