"""Load flow specs from YAML files; a bad file yields a ``SpecError`` naming file and field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from syncgate.errors import SpecError
from syncgate.spec.alerts import FlowDefaults
from syncgate.spec.model import FlowSpec, connector_types
from syncgate.spec.sync_model import SyncSpec, is_sync_spec
from syncgate.spec.triggers import TRIGGER_TYPES

SPEC_SUFFIXES = (".yml", ".yaml")
# libyaml's safe loader when PyYAML has it: same safe subset, ~10x faster than the pure-Python
# one (parsing 200 specs: 0.9 s -> 0.1 s, paid by every DAG parse and every monitor run).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Files whose name starts with this are not flows (``_defaults.yml``).
NOT_A_FLOW_PREFIX = "_"
DEFAULTS_FILE = "_defaults.yml"
# "sides.a.table: ..." - a model-wide check's message that starts with the field it is about.
_PLACED = re.compile(r"^[A-Za-z_][\w.]*: ")
_DEFAULTS = "defaults file"


@dataclass(frozen=True)
class LoadedSpec:
    """A spec file and either its validated spec or the error that rejected it."""

    path: Path
    spec: FlowSpec | SyncSpec | None
    error: SpecError | None


def load_specs(folder: Path) -> list[LoadedSpec]:
    """Load every spec in ``folder`` in a stable (sorted) order; never raises for bad files."""
    if not folder.is_dir():
        return []
    files = sorted(
        p
        for p in folder.iterdir()
        if p.suffix in SPEC_SUFFIXES and not p.name.startswith(NOT_A_FLOW_PREFIX) and p.is_file()
    )
    loaded: list[LoadedSpec] = []
    for path in files:
        try:
            loaded.append(LoadedSpec(path, load_spec(path), None))
        except SpecError as exc:
            loaded.append(LoadedSpec(path, None, exc))
    _reject_duplicate_ids(loaded)
    return loaded


def load_spec(path: Path) -> FlowSpec | SyncSpec:
    """Parse and validate one spec file.

    Raises:
        SpecError: the file is not valid YAML or breaks the spec contract.
    """
    try:
        raw = _safe_load(path)
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(str(path), [f"cannot read YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise SpecError(str(path), ["the file must hold a mapping (key: value pairs)"])
    raw = _inline_suite(path, _rejoin_type_modifiers(raw))
    try:
        if is_sync_spec(raw):
            return SyncSpec.model_validate(raw)
        return FlowSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(str(path), [_describe(err) for err in exc.errors()]) from None


def load_defaults(folder: Path) -> FlowDefaults:
    """The flows folder's ``_defaults.yml``; built-in defaults when there is none.

    Raises:
        SpecError: the file is not valid YAML or breaks its contract (names file and field).
    """
    path = folder / DEFAULTS_FILE
    if not path.is_file():
        return FlowDefaults()
    try:
        raw = _safe_load(path)
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(str(path), what=_DEFAULTS, problems=[f"cannot read YAML: {exc}"]) from None
    if raw is None:
        return FlowDefaults()
    if not isinstance(raw, dict):
        raise SpecError(
            str(path), what=_DEFAULTS, problems=["the file must hold a mapping (key: value pairs)"]
        )
    try:
        return FlowDefaults.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(
            str(path), what=_DEFAULTS, problems=[_describe(err) for err in exc.errors()]
        ) from None


def _safe_load(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # a safe loader


def _describe(err: Any) -> str:
    # Only the location and message: never the input value, which could hold a secret.
    loc = list(err["loc"])
    # A discriminated union adds its tag to the location (``target.http.endpoint``): drop it.
    # pydantic names the union member (the connector's type) in the location: the user wrote
    # ``source.table``, not ``source.postgres.table``.
    if len(loc) > 1 and loc[0] in ("source", "target") and loc[1] in connector_types():
        del loc[1]
    if len(loc) > 2 and loc[0] == "triggers" and loc[2] in TRIGGER_TYPES:  # triggers.0.channel
        del loc[2]
    field = ".".join(str(part) for part in loc) or "(top level)"
    message = err["msg"].removeprefix("Value error, ")
    if not loc and _PLACED.match(message):  # a spec-wide check that names its own field
        return message
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    if err["type"] == "union_tag_invalid":  # pydantic's message quotes the input
        message = f"unknown `type`; expected one of {err['ctx']['expected_tags']}"
    return f"{field}: {message}"


def _rejoin_type_modifiers(raw: dict[str, Any]) -> dict[str, Any]:
    """Accept ``cast: {amount: numeric(12,2)}`` and ``fields: {x: {path: p, type: numeric(12,2)}}``.

    In a YAML flow mapping the comma splits that into ``{amount: "numeric(12", "2)": null}``;
    in these two places (the only ones holding PostgreSQL types) a value with an unclosed
    parenthesis followed by a null-valued key is rejoined.
    """
    transform = raw.get("transform")
    if isinstance(transform, dict) and isinstance(transform.get("cast"), dict):
        raw = {**raw, "transform": {**transform, "cast": _rejoin(transform["cast"])}}
    source = raw.get("source")
    if isinstance(source, dict) and isinstance(source.get("fields"), dict):
        fields = {
            name: _rejoin(field) if isinstance(field, dict) and "type" in field else field
            for name, field in source["fields"].items()
        }
        raw = {**raw, "source": {**source, "fields": fields}}
    return raw


def _rejoin(mapping: dict[Any, Any]) -> dict[Any, Any]:
    fixed: dict[Any, Any] = {}
    pending: Any = None
    for key, value in mapping.items():
        if pending is not None and value is None and isinstance(key, (str, int)):
            fixed[pending] = f"{fixed[pending]},{key}"
            pending = None if str(fixed[pending]).count("(") <= str(fixed[pending]).count(")") else pending
            continue
        fixed[key] = value
        unclosed = isinstance(value, str) and value.count("(") > value.count(")")
        pending = key if unclosed else None
    return fixed


def _inline_suite(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    quality = raw.get("quality")
    if not isinstance(quality, dict) or not quality.get("suite"):
        return raw
    if quality.get("expectations"):
        raise SpecError(str(path), ["quality: give `expectations` or `suite`, not both"])
    suite_path = (path.parent / str(quality["suite"])).resolve()
    try:
        suite = json.loads(suite_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(str(path), [f"quality.suite: cannot read {suite_path}: {exc}"]) from None
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise SpecError(
            str(path), [f"quality.suite: {suite_path} is not a GX suite (no `expectations` list)"]
        )
    expectations = [
        {k: v for k, v in e.items() if k in ("type", "kwargs", "meta")}
        for e in suite["expectations"]
        if isinstance(e, dict)
    ]
    return {**raw, "quality": {**quality, "suite": str(suite_path), "expectations": expectations}}


def _reject_duplicate_ids(loaded: list[LoadedSpec]) -> None:
    seen: dict[str, Path] = {}
    for i, item in enumerate(loaded):
        if item.spec is None:
            continue
        # A sync flow's sides keep state under `<id>__<side>`: those ids are taken too.
        ids = [item.spec.id, *_side_ids(item.spec)]
        taken = [(taken_id, seen[taken_id]) for taken_id in ids if seen.get(taken_id, item.path) != item.path]
        if taken:
            problem = f"id: {taken[0][0]!r} is already used by {taken[0][1].name}"
            loaded[i] = LoadedSpec(item.path, None, SpecError(str(item.path), [problem]))
            continue
        for taken_id in ids:
            seen.setdefault(taken_id, item.path)


def _side_ids(spec: FlowSpec | SyncSpec) -> list[str]:
    return [side.view.id for side in spec.all_sides] if isinstance(spec, SyncSpec) else []
