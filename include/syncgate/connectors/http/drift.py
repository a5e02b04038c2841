"""Schema drift of an HTTP source: new, missing and retyped fields against the last-seen schema.

The last-seen schema (field -> JSON kind and the PostgreSQL type it lands as) is kept per flow
in ``syncgate.source_schemas`` and replaced after every extract that got past the policy.
Classification: a new field, or integer values becoming decimal numbers, is ``non_breaking``;
a missing field or any other type change is ``breaking``. Policies:

- ``evolve``: new fields become new columns of the batch, and promote adds them to the target;
- ``freeze``: any change fails the extract with a clear error (nothing is landed);
- ``discard``: new fields are dropped; the batch keeps the last-seen columns.

Under every policy a missing field is not landed (target rows keep their values) and a
retyped field keeps its column type: values that cannot be coerced become rejected records.
"""

from __future__ import annotations

from typing import Any, Literal

from syncgate.connectors.http.coerce import infer_type, json_kind
from syncgate.errors import FatalError

Policy = Literal["evolve", "freeze", "discard"]


class SchemaDriftError(FatalError):
    """The source's schema changed under ``schema_drift: freeze``."""


def classify(change: str, before: str | None = None, after: str | None = None) -> str:
    """``non_breaking`` or ``breaking`` for one change (added / removed / type_changed)."""
    if change == "added":
        return "non_breaking"
    if change == "type_changed" and before == "integer" and after == "number":
        return "non_breaking"
    return "breaking"


class SchemaTracker:
    """Decides the batch's columns page by page and records every drift with its action.

    Args:
        flow_id: for error messages.
        policy: the spec's ``schema_drift``.
        reference: the last-seen schema (``{field: {"kind", "type"}}``), None on a first run.
        declared: declared column types (``fields`` with a ``type``; hashed columns as text).
        keep: only these columns may land (``source.columns``), None = all fields.
        state: a checkpointed state to resume from.
        target_types: types of the existing target's columns (source names): a batch must
            agree with the table it merges into, whatever the last-seen schema says.
    """

    def __init__(
        self,
        flow_id: str,
        policy: Policy,
        reference: dict[str, dict[str, str]] | None,
        declared: dict[str, str],
        keep: list[str] | None,
        state: dict[str, Any] | None = None,
        target_types: dict[str, str] | None = None,
    ) -> None:
        self.flow_id = flow_id
        self.target_types = target_types or {}
        # Fields fully placed (column, kind, drift decided): later records skip the checks.
        self._settled: set[str] = set()
        self.policy = policy
        self.reference = reference
        self.declared = declared
        self.keep = set(keep) if keep is not None else None
        self.state: dict[str, Any] = state or {
            "columns": [],  # [[name, pg_type], ...] in landing order
            "kinds": {},  # field -> JSON kind first seen in this run
            "present": [],  # fields seen in this run (null or not)
            "changes": [],
            "discarded": [],
        }

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(n, t) for n, t in self.state["columns"]]

    def admit_all(self, rows: list[dict[str, Any]]) -> None:
        """``admit`` of each row, in order, skipping rows with nothing new in one loop."""
        settled = self._settled
        widenable = self.state.get("widenable")
        for row in rows:
            if settled.issuperset(row):
                if not widenable:
                    continue
                for name in widenable:
                    if isinstance(row.get(name), float):
                        break
                else:
                    continue
            self.admit(row)
            widenable = self.state.get("widenable")

    def admit(self, row: dict[str, Any]) -> None:
        """Look at one flattened record: new fields, kinds, type changes."""
        if self._settled.issuperset(row):
            # Every field already placed (the common case after the first records), unless a
            # watched integer column now holds a fraction.
            widenable = self.state.get("widenable")
            if not widenable or not any(isinstance(row.get(n), float) for n in widenable):
                return
        s = self.state
        known = {n for n, _ in s["columns"]}
        for name, value in row.items():
            if self.keep is not None and name not in self.keep:
                continue
            if name not in s["present"]:
                s["present"].append(name)
                if self.reference is not None and name not in self.reference:
                    self._added(name, value)
            if name in s["discarded"]:
                continue
            kind = json_kind(value)
            if kind == "null":
                continue
            if name not in known:
                s["columns"].append([name, self._type_of(name, kind)])
                known.add(name)
                if kind == "integer" and self._inferred(name):
                    s.setdefault("widenable", []).append(name)
            elif kind == "number" and name in s.get("widenable", ()):
                self._widen(name)
            if name not in s["kinds"]:
                s["kinds"][name] = kind
                before = (self.reference or {}).get(name, {}).get("kind")
                if before and before != kind and not (before == "number" and kind == "integer"):
                    self._retyped(name, before, kind)
        # An inferred bigint is settled too, but stays under watch (above): JSON has one number
        # type, a fraction may follow.
        self._settled.update(
            n
            for n in row
            if (self.keep is not None and n not in self.keep) or n in s["discarded"] or n in s["kinds"]
        )

    def finish(self, batch_rows: int, required: list[str] | None = None) -> list[dict[str, Any]]:
        """Close the batch: missing fields, all-null columns; returns the changes recorded.

        ``required`` columns (primary key, cursor) are landed even when no record had them.
        """
        s = self.state
        s["rows"] = batch_rows
        known = {n for n, _ in s["columns"]}
        wanted = [n for n in s["present"] if n not in s["discarded"]]
        wanted += [n for n in self.declared if self.keep is None or n in self.keep]
        if not batch_rows:
            # An empty batch still carries the known columns, so staging and merge keep their shape.
            wanted += [n for n, info in (self.reference or {}).items() if not info.get("absent")]
        wanted += required or []
        for name in wanted:
            if name not in known:
                # Seen only as null (or not at all): text unless declared or known.
                s["columns"].append([name, self._type_of(name, "null")])
                known.add(name)
        if self.reference is not None and batch_rows:
            for name, info in self.reference.items():
                missing = name not in s["present"] and not info.get("absent")
                if missing and (self.keep is None or name in self.keep):
                    self._record("removed", name, info.get("type"), None, "not landed")
        return list(s["changes"])

    def schema(self) -> dict[str, dict[str, Any]]:
        """The schema to remember for the next run.

        Fields missing from this batch stay, marked ``absent``: reported once, and a field that
        comes back keeps its type (and is compared with its old JSON kind).
        """
        s = self.state
        old = self.reference or {}
        out: dict[str, dict[str, Any]] = {}
        for name, info in old.items():
            gone = s.get("rows") and name not in s["present"]
            out[name] = {**info, "absent": True} if gone else dict(info)
        for name, pg_type in s["columns"]:
            kind = s["kinds"].get(name) or old.get(name, {}).get("kind", "null")
            out[name] = {"type": pg_type, "kind": kind}
        return out

    def _inferred(self, name: str) -> bool:
        """Typed from this run's values alone (not declared, not the target's, not remembered)."""
        return (
            name not in self.declared
            and name not in self.target_types
            and not ((self.reference or {}).get(name, {}).get("type"))
        )

    def _widen(self, name: str) -> None:
        """An inferred integer column met a fraction: land it as a number (earlier pages are cast
        when the batch is combined), instead of rejecting every fractional value."""
        s = self.state
        s["widenable"].remove(name)
        s["columns"] = [[n, infer_type("number") if n == name else t] for n, t in s["columns"]]

    def _type_of(self, name: str, kind: str) -> str:
        if name in self.declared:
            return self.declared[name]
        if name in self.target_types:
            return self.target_types[name]
        known = (self.reference or {}).get(name, {}).get("type")
        return known or infer_type(kind)

    def _added(self, name: str, value: Any) -> None:
        action = {"evolve": "column added", "discard": "discarded", "freeze": "failed"}[self.policy]
        kind = json_kind(value)
        self._record("added", name, None, infer_type(kind) if kind != "null" else None, action)
        if self.policy == "discard":
            self.state["discarded"].append(name)

    def _retyped(self, name: str, before: str, after: str) -> None:
        action = "failed" if self.policy == "freeze" else "values coerced to the column type"
        self._record("type_changed", name, before, after, action)

    def _record(self, change: str, name: str, before: str | None, after: str | None, action: str) -> None:
        entry = {
            "change": change,
            "field": name,
            "from": before,
            "to": after,
            "classification": classify(change, before, after),
            "action": "failed" if self.policy == "freeze" else action,
        }
        self.state["changes"].append(entry)
        if self.policy == "freeze":
            raise SchemaDriftError(
                f"flow {self.flow_id!r}: the source schema changed and `schema_drift: freeze` forbids it: "
                f"{change} field {name!r}"
                + (f" ({before} -> {after})" if change == "type_changed" else "")
                + "; the target and watermark are untouched. Update the flow (or use `evolve` / `discard`), then rerun"
            )
