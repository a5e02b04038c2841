"""The flow spec: cross-field rules, derived names, and the connector models chosen by `type`."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.unit


def spec(**extra: Any) -> FlowSpec:
    """A people flow (columns listed) with `extra` top-level keys."""
    return FlowSpec.model_validate(
        {
            "id": "people",
            "source": {"type": "postgres", "conn_id": "src", "table": "public.people", "primary_key": ["id"],
                       "columns": ["id", "mail", "phone", "city"]},
            "target": {"type": "postgres", "conn_id": "dst", "table": "public.people"},
            "transform": {"rename": {"mail": "email"}, "hash": ["phone"]},
            **extra,
        }
    )  # fmt: skip


def test_pii_columns_are_the_listed_ones_plus_every_hashed_one() -> None:
    assert spec(pii=["email"]).pii_columns == ["email", "phone"]
    assert spec().pii_columns == ["phone"]


def test_pii_names_columns_after_rename() -> None:
    with pytest.raises(
        ValidationError, match=r"`pii` names unknown column\(s\) mail \(use the names after `rename`\)"
    ):
        spec(pii=["mail"])


def test_pii_names_must_be_identifiers() -> None:
    with pytest.raises(ValidationError, match="pii"):
        spec(pii=["e-mail"])


def flow(
    source: dict[str, Any] | None = None, target: dict[str, Any] | None = None, **extra: Any
) -> FlowSpec:
    """An orders flow; ``source`` / ``target`` keys override the defaults (None removes one)."""
    src = {"type": "postgres", "conn_id": "src", "table": "public.orders", "primary_key": ["id"],
           "cursor": "updated_at", **(source or {})}  # fmt: skip
    dst = {"type": "postgres", "conn_id": "dst", "table": "analytics.orders"}
    dst = target if target and "type" in target else {**dst, **(target or {})}
    return FlowSpec.model_validate(
        {"id": "orders", "source": {k: v for k, v in src.items() if v is not None}, "target": dst, **extra}
    )


def test_merge_needs_a_primary_key() -> None:
    with pytest.raises(ValidationError, match=r"`target.write: merge` needs `source.primary_key`"):
        flow(source={"primary_key": []})
    assert flow(source={"primary_key": []}, target={"write": "append"}).target.write == "append"


def test_replace_refuses_an_incremental_cursor() -> None:
    with pytest.raises(ValidationError, match=r"`target.write: replace` rewrites the whole target"):
        flow(target={"write": "replace"})
    assert flow(source={"cursor": None}, target={"write": "replace"}).source.cursor is None


@pytest.mark.parametrize("step", ["hash", "map_values"])
@pytest.mark.parametrize("column", ["id", "updated_at", "removed"])
def test_key_cursor_and_soft_delete_columns_cannot_be_hashed_or_value_mapped(step: str, column: str) -> None:
    reshape = [column] if step == "hash" else {column: {"a": "b"}}
    with pytest.raises(ValidationError, match=rf"column\(s\) {column} cannot be hashed or value-mapped"):
        flow(source={"deletes": "soft", "soft_delete_column": "removed"}, transform={step: reshape})


def test_protected_columns_are_checked_under_their_renamed_names() -> None:
    with pytest.raises(ValidationError, match="column\\(s\\) order_id cannot be hashed"):
        flow(transform={"rename": {"id": "order_id"}, "hash": ["order_id"]})


def test_a_column_cannot_be_both_hashed_and_value_mapped() -> None:
    with pytest.raises(ValidationError, match="column\\(s\\) email cannot be both hashed and value-mapped"):
        flow(transform={"hash": ["email"], "map_values": {"email": {"x": "y"}}})


def test_drop_cannot_remove_the_key_cursor_or_soft_delete_column() -> None:
    with pytest.raises(ValidationError, match="`transform.drop` removes order_id, which the flow needs"):
        flow(transform={"rename": {"id": "order_id"}, "drop": ["order_id"]})
    with pytest.raises(ValidationError, match="`transform.drop` removes updated_at"):
        flow(transform={"drop": ["updated_at"]})


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        ({"rename": {"mail": "email"}}, "`transform.rename` names unknown column\\(s\\) mail"),
        ({"cast": {"total": "numeric"}}, "`transform.cast` names unknown column\\(s\\) total"),
        ({"hash": ["phone"]}, "`transform.hash` names unknown column\\(s\\) phone"),
        (
            {"rename": {"name": "full_name"}, "drop": ["name"]},
            "`transform.drop` names unknown column\\(s\\) name",
        ),
    ],
)
def test_transform_names_unknown_to_listed_source_columns_are_refused(
    transform: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        flow(source={"columns": ["id", "name", "updated_at"]}, transform=transform)


def test_unlisted_source_columns_are_checked_at_extract_time_instead() -> None:
    spec = flow(transform={"hash": ["phone"]})
    with pytest.raises(ValueError, match="`transform.hash` names unknown column\\(s\\) phone"):
        spec.check_column_names(["id", "updated_at"])
    spec.check_column_names(["id", "updated_at", "phone"])


def test_unknown_expectation_types_and_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown Great Expectations expectation type 'expect_magic'"):
        flow(quality={"expectations": [{"type": "expect_magic"}]})
    with pytest.raises(ValidationError, match="tabel"):
        flow(source={"tabel": "x"})


@pytest.mark.parametrize(("written", "stored"), [("@daily", "0 0 * * *"), (" */5 * * * * ", "*/5 * * * *")])
def test_a_schedule_is_a_cron_expression_or_a_preset(written: str, stored: str) -> None:
    assert flow(schedule=written).schedule == stored


def test_an_invalid_schedule_lists_the_presets() -> None:
    with pytest.raises(ValidationError, match="'every day' is not a cron expression or one of @annually"):
        flow(schedule="every day")


def test_target_names_follow_rename() -> None:
    spec = flow(
        source={"deletes": "soft", "soft_delete_column": "removed"},
        transform={"rename": {"id": "order_id", "updated_at": "changed_at", "removed": "gone"}},
    )
    assert (spec.target_primary_key, spec.target_cursor, spec.target_soft_delete_column) == (
        ["order_id"], "changed_at", "gone",
    )  # fmt: skip
    assert spec.target_id_field == "order_id" and spec.state_conn_id == "dst"


def test_pii_names_hold_source_and_target_names() -> None:
    spec = flow(transform={"rename": {"mail": "email"}, "hash": ["phone"]}, pii=["email"])
    assert spec.pii_names == frozenset({"email", "mail", "phone"})


HTTP_TARGET = {"type": "http", "conn_id": "crm", "state_conn_id": "state", "endpoint": "/v1/orders"}


def test_a_target_hook_adds_its_own_flow_rules() -> None:
    # connectors/http/spec.py HttpTarget.check_flow runs inside FlowSpec validation.
    with pytest.raises(ValidationError, match="`target.id_field` is required with a composite primary key"):
        flow(source={"primary_key": ["region", "id"]}, target=HTTP_TARGET)
    spec = flow(source={"primary_key": ["region", "id"]}, target={**HTTP_TARGET, "id_field": "id"})
    assert spec.target_id_field == "id" and spec.state_conn_id == "state"


def test_a_target_hook_sees_the_whole_flow() -> None:
    # The http target's rule over `freshness`, a FlowSpec field outside the target model.
    with pytest.raises(
        ValidationError, match="`freshness.column` of an http target must be the cursor column"
    ):
        flow(target=HTTP_TARGET, freshness={"column": "created_at", "max_age": "1h"})
    assert flow(target=HTTP_TARGET, freshness={"column": "updated_at", "max_age": "1h"}).freshness is not None


# -- FlowSpec validates the same whichever way it is built, whatever was imported first --

_DIRECT = """
import sys
from syncgate.spec.model import FlowSpec

raw = {
    "id": "direct",
    "source": {"type": "postgres", "conn_id": "src", "table": "public.t", "primary_key": ["id"]},
    "target": {"type": "postgres", "conn_id": "dst", "table": "public.t"},
}
how = sys.argv[1]
if how == "constructor":
    spec = FlowSpec(**raw)
else:
    import json
    spec = FlowSpec.model_validate_json(json.dumps(raw))
print(type(spec.source).__name__, spec.state_conn_id)
"""


@pytest.mark.parametrize("how", ["constructor", "model_validate_json"])
def test_a_flow_spec_built_directly_in_a_fresh_process_validates(how: str) -> None:
    """Built by its constructor or from JSON before anything imported ``syncgate.connectors``,
    a valid spec validates against the registered connectors' models, not the bare bases."""
    import subprocess
    import sys
    from pathlib import Path

    include = Path(__file__).resolve().parents[3] / "include"
    done = subprocess.run(
        [sys.executable, "-c", _DIRECT, how],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(include), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["PostgresSource", "dst"]  # state lives in the target database
