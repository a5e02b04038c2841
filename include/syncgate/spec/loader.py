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
from syncgate.spec.bounded_yaml import FolderBudget, SpecBudget, SpecTooCostly, load_yaml, read_text
from syncgate.spec.model import FlowSpec, connector_types
from syncgate.spec.sync_model import SyncSpec, is_sync_spec
from syncgate.spec.triggers import TRIGGER_TYPES

SPEC_SUFFIXES = (".yml", ".yaml")
# DAG ids syncgate's own DAG files register: a flow with one of them would be a second owner.
RESERVED_DAG_IDS = frozenset({"syncgate_invalid_specs", "syncgate_freshness_monitor"})
# Files whose name starts with this are not flows (``_defaults.yml``).
NOT_A_FLOW_PREFIX = "_"
DEFAULTS_FILE = "_defaults.yml"
# "sides.a.table: ..." - a model-wide check's message that starts with the field it is about.
_PLACED = re.compile(r"^[A-Za-z_][\w.]*: ")
_DEFAULTS = "defaults file"


@dataclass(frozen=True)
class LoadedSpec:
    """A spec file and either its validated spec or the error that rejected it.

    ``budget`` is the file's time budget, started when it was read: building its DAG spends
    what loading left.
    """

    path: Path
    spec: FlowSpec | SyncSpec | None
    error: SpecError | None
    budget: SpecBudget | None = None


def load_specs(folder: Path, folder_budget: FolderBudget | None = None) -> list[LoadedSpec]:
    """Load every spec in ``folder``, returned in a stable (sorted) order; never raises for bad files.

    An id claimed by two or more files (valid or not) is refused in every one of them: which
    file owns a flow is never decided by file names. Files are read smallest first within
    ``folder_budget`` (default: ``SYNCGATE_SPECS_TOTAL_SECONDS``): when a folder of oversized
    specs exhausts it, the ones left are import errors and the ordinary small specs have loaded.
    """
    folder_budget = folder_budget or FolderBudget()
    if not folder.is_dir():
        return []
    files = sorted(
        p
        for p in folder.iterdir()
        if p.suffix in SPEC_SUFFIXES and not p.name.startswith(NOT_A_FLOW_PREFIX) and p.is_file()
    )
    by_name: dict[Path, tuple[LoadedSpec, list[str]]] = {}
    for path in sorted(files, key=_size_then_name):
        budget = folder_budget.spec_budget()
        claimed: list[str] = []
        try:
            folder_budget.check()
            by_name[path] = (LoadedSpec(path, load_spec(path, budget, claimed), None, budget), claimed)
        except SpecTooCostly as exc:
            by_name[path] = (LoadedSpec(path, None, SpecError(str(path), [str(exc)]), budget), claimed)
        except SpecError as exc:
            by_name[path] = (LoadedSpec(path, None, exc, budget), claimed)
    loaded = [by_name[path][0] for path in files]
    _reject_ambiguous_ids(loaded, [by_name[path][1] for path in files])
    return loaded


def _size_then_name(path: Path) -> tuple[int, str]:
    try:
        return path.stat().st_size, path.name
    except OSError:  # gone meanwhile: load_spec reports it
        return 0, path.name


def load_spec(
    path: Path, budget: SpecBudget | None = None, claimed: list[str] | None = None
) -> FlowSpec | SyncSpec:
    """Parse and validate one spec file.

    ``claimed`` (when given) receives the flow ids the file claims as soon as they are known,
    also when validation then fails: a broken copy of a spec still makes its id ambiguous.

    Raises:
        SpecError: the file is not valid YAML, breaks the spec contract, or is over the bounds
            of ``bounded_yaml`` (size, alias expansion, time).
    """
    budget = budget or SpecBudget()
    try:
        raw = load_yaml(read_text(path), budget)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(str(path), [f"cannot read YAML: {exc}"]) from None
    except SpecTooCostly as exc:
        raise SpecError(str(path), [str(exc)]) from None
    if not isinstance(raw, dict):
        raise SpecError(str(path), ["the file must hold a mapping (key: value pairs)"])
    if claimed is not None:
        claimed.extend(_raw_ids(raw))
    try:
        raw = _inline_suite(path, _rejoin_type_modifiers(raw))
        budget.check("reading its YAML")
        spec: FlowSpec | SyncSpec = (
            SyncSpec.model_validate(raw) if is_sync_spec(raw) else FlowSpec.model_validate(raw)
        )
        budget.check("validating it")
    except ValidationError as exc:
        raise SpecError(str(path), [_describe(err) for err in exc.errors()]) from None
    except SpecTooCostly as exc:
        raise SpecError(str(path), [str(exc)]) from None
    if claimed is not None:
        claimed[:] = _spec_ids(spec)
    return spec


def load_defaults(folder: Path) -> FlowDefaults:
    """The flows folder's ``_defaults.yml``; built-in defaults when there is none.

    Raises:
        SpecError: the file is not valid YAML or breaks its contract (names file and field).
    """
    path = folder / DEFAULTS_FILE
    if not path.is_file():
        return FlowDefaults()
    try:
        raw = load_yaml(read_text(path), SpecBudget())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(str(path), what=_DEFAULTS, problems=[f"cannot read YAML: {exc}"]) from None
    except SpecTooCostly as exc:
        raise SpecError(str(path), what=_DEFAULTS, problems=[str(exc)]) from None
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
        suite = json.loads(read_text(suite_path))
    except SpecTooCostly as exc:
        raise SpecError(str(path), [f"quality.suite: {suite_path}: {exc}"]) from None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
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


def _reject_ambiguous_ids(loaded: list[LoadedSpec], claims: list[list[str]]) -> None:
    """Refuse every file whose flow id (or a sync side's ``<id>__<side>``) another file claims too."""
    owners: dict[str, list[Path]] = {}
    for item, claimed in zip(loaded, claims, strict=True):
        for flow_id in dict.fromkeys(claimed):
            owners.setdefault(flow_id, []).append(item.path)
    for i, (item, claimed) in enumerate(zip(loaded, claims, strict=True)):
        problems = []
        for flow_id in dict.fromkeys(claimed):
            if flow_id in RESERVED_DAG_IDS:
                problems.append(
                    f"id: {flow_id!r} is the id of a DAG syncgate itself registers: choose another"
                )
            elif len(owners[flow_id]) > 1:
                files = " and ".join(p.name for p in owners[flow_id])
                problems.append(
                    f"id: {flow_id!r} is claimed by {files}: no DAG runs it until only one file does "
                    "(remove or rename the copy)"
                )
        if problems:
            earlier = item.error.problems if item.error is not None else []
            loaded[i] = LoadedSpec(
                item.path, None, SpecError(str(item.path), [*earlier, *problems]), item.budget
            )


def _raw_ids(raw: dict[str, Any]) -> list[str]:
    """The ids a not-yet-validated spec mapping claims (its id and its sync sides' ids)."""
    flow_id = raw.get("id")
    if not isinstance(flow_id, str):
        return []
    sides = raw.get("sides")
    names = [n for n in sides if isinstance(n, str)] if is_sync_spec(raw) and isinstance(sides, dict) else []
    return [flow_id, *(f"{flow_id}__{name}" for name in names)]


def _spec_ids(spec: FlowSpec | SyncSpec) -> list[str]:
    # A sync flow's sides keep state under `<id>__<side>`: those ids are taken too.
    return [spec.id, *(side.view.id for side in spec.all_sides)] if isinstance(spec, SyncSpec) else [spec.id]
