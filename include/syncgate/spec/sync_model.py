"""The spec of a two-way or multi-way flow: N sides, each a source and a target of any connector.

```yaml
id: airports_mesh
mode: multi_way            # two_way (2 sides) | multi_way (3 or more)
sides:                     # name -> the connector's source keys plus its target keys
  a: {type: postgres, conn_id: a_db, table: public.airports, primary_key: [faa], cursor: updated_at}
  ...
match: [faa]               # common fields identifying a record on every side
fields: {name: {}, tier: {b: priority}, credit_limit: {c: null}}
map_values: {b: {tier: {high: "1"}}}
conflicts: {default: newest_wins, tie_break: [a, b], fields: {alt: {system_of_record: b}}}
```

Each side also becomes a one-way ``FlowSpec`` *view* (``SyncSpec.view``) whose source and target
are that side: the connectors read and write through the interface they already implement,
with the side's own watermark (``<flow id>__<side>``).
"""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from syncgate.spec.alerts import Alerts
from syncgate.spec.fields import Duration, FlowId, Name, SourceSpec, StrictModel, TargetSpec
from syncgate.spec.model import FlowSpec, Quality, check_cron, load_builtin_connectors, side_models

RULE_NAMES = ("newest_wins", "system_of_record", "version", "manual")


class SystemOfRecord(StrictModel):
    system_of_record: Name


class Version(StrictModel):
    version: Name


RuleSpec = Literal["newest_wins", "manual"] | SystemOfRecord | Version


class Conflicts(StrictModel):
    """How a field changed differently on two or more sides is decided."""

    default: RuleSpec = "newest_wins"
    tie_break: list[Name] | None = None  # side order for equal times or versions; default: `sides` order
    fields: dict[Name, RuleSpec] = Field(default_factory=dict)
    deletes: Literal["update_wins", "delete_wins"] = "update_wins"

    @field_validator("default", mode="before")
    @classmethod
    def _default_rule(cls, value: Any) -> Any:
        return _check_rule(value)

    @field_validator("fields", mode="before")
    @classmethod
    def _field_rules(cls, value: Any) -> Any:
        for name, rule in value.items() if isinstance(value, dict) else ():
            try:
                _check_rule(rule)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return value


def _check_rule(rule: Any) -> Any:
    """A named rule that needs an argument says how to give it; an unknown name lists the known."""
    if rule == "system_of_record":
        raise ValueError("`system_of_record` needs its side: write `{system_of_record: <side>}`")
    if rule == "version":
        raise ValueError("`version` needs its field: write `{version: <field>}`")
    if isinstance(rule, str) and rule not in RULE_NAMES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(RULE_NAMES)}")
    return rule


class SyncSide:
    """One side of a sync flow: its name, its source and target specs, and its one-way view."""

    def __init__(self, name: str, source: SourceSpec, target: TargetSpec, view: FlowSpec) -> None:
        self.name = name
        self.source = source
        self.target = target
        self.view = view

    @property
    def type(self) -> str:
        return str(self.source.type)


class SyncSpec(StrictModel):
    """A two-way or multi-way flow; becomes one Airflow DAG with the stages for each side."""

    id: FlowId
    mode: Literal["two_way", "multi_way"]
    description: str = ""
    owner: str = "data-platform"
    tags: list[str] = Field(default_factory=list)
    schedule: str | None = None
    start_date: date = date(2024, 1, 1)
    retries: Annotated[int, Field(ge=0, le=20)] = 3
    retry_delay: Duration = timedelta(seconds=30)
    # `state_conn_id` in the spec; `state_conn_id` (the property) once defaults are applied.
    state_conn: Name | None = Field(default=None, alias="state_conn_id")
    sides: dict[Name, dict[str, Any]]
    match: list[Name] | None = None
    fields: dict[Name, dict[Name, Name | None] | None] | None = None
    map_values: dict[Name, dict[Name, dict[str, str | None]]] = Field(default_factory=dict)
    conflicts: Conflicts = Field(default_factory=Conflicts)
    quality: Quality = Field(default_factory=Quality)
    # Common fields whose values never appear in the conflict log, reports or XCom in clear.
    pii: list[Name] = Field(default_factory=list)
    alerts: Alerts | None = None
    # PLACEHOLDER until the events helper's spec/triggers.py merges (take theirs on conflict).
    triggers: list[dict[str, Any]] = Field(default_factory=list)

    _sides: dict[str, SyncSide] = PrivateAttr(default_factory=dict)

    def __init__(self, /, **data: Any) -> None:
        load_builtin_connectors()
        super().__init__(**data)

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> SyncSpec:  # type: ignore[override]
        load_builtin_connectors()
        return super().model_validate(obj, *args, **kwargs)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value)

    @model_validator(mode="after")
    def _check(self) -> SyncSpec:
        count = len(self.sides)
        if self.mode == "two_way" and count != 2:
            raise ValueError(
                f"`mode: two_way` needs exactly 2 sides, found {count} (use `multi_way` for 3 or more)"
            )
        if self.mode == "multi_way" and count < 3:
            raise ValueError(f"`mode: multi_way` needs 3 or more sides, found {count} (use `two_way` for 2)")
        names = list(self.sides)
        self._sides = {name: self._build_side(name, raw) for name, raw in self.sides.items()}
        if self.state_conn is None:
            holders = [s for s in self._sides.values() if s.target.holds_state]
            if not holders:
                raise ValueError("no side's connection can hold syncgate's state: set `state_conn_id`")
            object.__setattr__(self, "state_conn", holders[0].target.state_connection())
        for side in self._sides.values():  # sides that keep state elsewhere use the flow's
            _set_state_connection(side, self.state_conn_id)
        tie_break = self.conflicts.tie_break
        if tie_break is not None:
            unknown = [s for s in tie_break if s not in names]
            if unknown or sorted(tie_break) != sorted(names):
                raise ValueError(f"conflicts.tie_break: must list every side once: {', '.join(names)}")
        rules = [("conflicts.default", self.conflicts.default)] + [
            (f"conflicts.fields.{f}", r) for f, r in self.conflicts.fields.items()
        ]
        for where, rule in rules:
            if isinstance(rule, SystemOfRecord) and rule.system_of_record not in names:
                raise ValueError(f"{where}: names unknown side {rule.system_of_record!r}")
        for side_name, tables in self.map_values.items():
            if side_name not in names:
                raise ValueError(f"map_values.{side_name}: unknown side")
            for field, table in tables.items():
                _check_readable(f"map_values.{side_name}.{field}", table)
        if self.fields is not None:
            for name, per_side in self.fields.items():
                stray = [s for s in (per_side or {}) if s not in names]
                if stray:
                    raise ValueError(f"fields.{name}: names unknown side(s) {', '.join(stray)}")
            declared = set(self.fields)
            for where, named in (
                ("match", self.match or []),
                ("conflicts.fields", list(self.conflicts.fields)),
                ("pii", self.pii),
                *((f"map_values.{s}", list(m)) for s, m in self.map_values.items()),
            ):
                unknown = [f for f in named if f not in declared]
                if unknown:
                    raise ValueError(f"{where}: names field(s) not in `fields`: {', '.join(unknown)}")
        for side in self._sides.values():
            missing = [f for f in self.match_fields if self.column(side.name, f) is None]
            if missing:
                raise ValueError(f"sides.{side.name}: has no column for match field(s) {', '.join(missing)}")
        return self

    def _build_side(self, name: str, raw: dict[str, Any]) -> SyncSide:
        where = f"sides.{name}"
        type_name = raw.get("type")
        models = side_models(type_name) if isinstance(type_name, str) else None
        if models is None:
            raise ValueError(
                f"{where}.type: {type_name!r} is not a connector that is both a source and a target"
            )
        source_model, target_model = models
        source_keys, target_keys = set(source_model.model_fields), set(target_model.model_fields)
        unknown = sorted(set(raw) - source_keys - target_keys)
        if unknown:
            raise ValueError("; ".join(f"{where}.{key}: unknown key" for key in unknown))
        target_raw = {k: v for k, v in raw.items() if k in target_keys}
        if "state_conn_id" in target_keys and "state_conn_id" not in target_raw:
            target_raw["state_conn_id"] = self.state_conn or "__flow__"
        try:
            source = source_model.model_validate({k: v for k, v in raw.items() if k in source_keys})
            target = target_model.model_validate(target_model.side_input(target_raw))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join([where, *(str(p) for p in err['loc'])])}: {err['msg'].removeprefix('Value error, ')}"
                for err in exc.errors()
            )
            raise ValueError(problems) from None
        if not source.writable_side:
            raise ValueError(f"{where}: a side must name a table or resource it can also write, not a query")
        if getattr(source, "capture", "cursor") != "cursor":
            # A side's changes are read by its change clock and written back by key; the
            # log-based reader serves one-way flows only.
            raise ValueError(f"{where}.capture: `wal` is for one-way flows; a sync side reads by `cursor`")
        view = FlowSpec.model_construct(
            id=f"{self.id}__{name}",
            description=f"side {name} of {self.id}",
            source=source,
            target=target,
            transform=FlowSpec.model_fields["transform"].get_default(call_default_factory=True),
            quality=Quality(),
            freshness=None,
            pii=[],
            alerts=None,
            schedule=None,
        )
        try:
            source.check_flow(view)
            target.check_flow(view)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        return SyncSide(name, source, target, view)

    @property
    def state_conn_id(self) -> str:
        """The PostgreSQL connection holding the flow's state, bases, conflict log and staging."""
        assert self.state_conn is not None  # set by validation
        return self.state_conn

    @property
    def freshness(self) -> None:
        """Freshness SLAs are measured per one-way target; a sync flow has none yet."""
        return None

    @property
    def side_names(self) -> list[str]:
        return list(self.sides)

    def side(self, name: str) -> SyncSide:
        return self._sides[name]

    @property
    def all_sides(self) -> list[SyncSide]:
        return list(self._sides.values())

    @property
    def match_fields(self) -> list[str]:
        """The common fields identifying a record: ``match``, else the first side's primary key."""
        if self.match:
            return list(self.match)
        first = self._sides[self.side_names[0]]
        return [self.field_of(first.name, c) or c for c in first.source.primary_key]

    @property
    def tie_break(self) -> tuple[str, ...]:
        return tuple(self.conflicts.tie_break or self.side_names)

    @property
    def pii_columns(self) -> list[str]:
        return sorted(self.pii)

    def column(self, side: str, field: str, available: list[str] | None = None) -> str | None:
        """The side's column holding a common field, or None when the side does not hold it."""
        if self.fields is not None:
            if field not in self.fields:
                return None
            per_side = self.fields[field] or {}
            if side in per_side:
                return per_side[side]
            return field
        return field if available is None or field in available else None

    def field_of(self, side: str, column: str) -> str | None:
        """The common field a side's column holds, or None."""
        if self.fields is None:
            return column
        for name, per_side in self.fields.items():
            per = per_side or {}
            if (per[side] if side in per else name) == column:
                return name
        return None

    def field_columns(self, side: str, available: list[str]) -> dict[str, str]:
        """Common field -> the side's column, for the columns the side offers.

        Without ``fields`` the common record is every column that all sides share, less each
        side's cursor and soft-delete columns (its own change clock is not data to copy): the
        caller passes the intersection of the sides' columns as ``available``.
        """
        spec = self._sides[side].source
        clocks = {spec.cursor, spec.soft_delete_column} - {None}
        mapping: dict[str, str] = {}
        if self.fields is not None:
            for name in self.fields:
                column = self.column(side, name)
                if column is not None and column in available:
                    mapping[name] = column
            return mapping
        for column in available:
            if column not in clocks:
                mapping[column] = column
        return mapping

    def inbound(self, side: str, field: str, value: Any) -> Any:
        """A side's value of a field in the common record's terms (``map_values`` reversed)."""
        table = self.map_values.get(side, {}).get(field)
        if not table or value is None:
            return value
        return _reverse(tuple(sorted((k, v) for k, v in table.items() if v is not None))).get(
            str(value), value
        )

    def outbound(self, side: str, field: str, value: Any) -> Any:
        """The common value of a field as the side spells it."""
        table = self.map_values.get(side, {}).get(field)
        if not table or value is None:
            return value
        return table.get(str(value), value)


@functools.lru_cache(maxsize=256)
def _reverse(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {side_value: common for common, side_value in pairs}


def _set_state_connection(side: SyncSide, conn_id: str) -> None:
    if "state_conn_id" in type(side.target).model_fields and side.target.state_conn_id in ("__flow__", None):  # type: ignore[attr-defined]
        object.__setattr__(side.target, "state_conn_id", conn_id)


def _check_readable(where: str, table: dict[str, str | None]) -> None:
    """A value map is applied in both directions: each side value must read back as one value."""
    to_null = [common for common, value in table.items() if value is None]
    if to_null:
        raise ValueError(f"{where}: maps {', '.join(map(repr, to_null))} to null, which cannot be read back")
    seen: dict[str, str] = {}
    for common, value in table.items():
        if str(value) in seen:
            raise ValueError(
                f"{where}: {seen[str(value)]!r} and {common!r} both map to {value!r}, which cannot be read back"
            )
        seen[str(value)] = common


def is_sync_spec(raw: Any) -> bool:
    """A spec mapping of a two-way or multi-way flow (it declares `mode` or `sides`)."""
    return isinstance(raw, dict) and ("mode" in raw or "sides" in raw)
