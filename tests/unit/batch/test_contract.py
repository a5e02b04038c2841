"""The stage contract: a versioned JSON batch through XCom, refused with a clear error when it is not one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from syncgate.batch.contract import CONTRACT_VERSION, Batch, BatchWindow
from syncgate.errors import ContractError

pytestmark = pytest.mark.unit


def batch(**changes: Any) -> Batch:
    values: dict[str, Any] = {
        "flow_id": "orders",
        "run_id": "manual__1",
        "batch_id": "b1",
        "files": {"data": "file:///landing/orders/b1/data.parquet"},
        "columns": [("id", "bigint"), ("updated_at", "timestamp with time zone")],
        "rows": 3,
        "bytes": 100,
        "bytes_uncompressed": 250,
        "window": BatchWindow("2026-01-01", None, True),
        "watermark_before": "2026-01-01",
        "watermark_batch_before": "b0",
        "watermark_after": "2026-01-02",
        "sequence": 7,
    }
    return Batch(**{**values, **changes})


def test_a_batch_survives_the_xcom_round_trip_through_json() -> None:
    full = batch(
        boundary="file:///landing/orders/b1/boundary.json",
        fields_unselected=["notes"],
        adds_columns=True,
        staging_table="syncgate_staging.orders__abc",
        staged_rows=3,
        quality={"success": True},
        seconds={"extract": 1.5},
        files={"data": "d", "keys": "k", "staged": "s"},
    )
    wire = json.loads(json.dumps(full.to_xcom()))
    assert wire["contract"] == CONTRACT_VERSION
    assert Batch.from_xcom(wire, flow_id="orders", stage="load") == full
    assert Batch.from_xcom(batch().to_xcom(), flow_id="orders", stage="load") == batch()


def test_the_window_travels_under_from_and_to() -> None:
    assert batch().to_xcom()["window"] == {"from": "2026-01-01", "to": None, "moves_watermark": True}


def test_the_contract_refuses_a_missing_batch_naming_the_flow_and_the_stage() -> None:
    with pytest.raises(ContractError, match=r"flow 'orders': verify received no batch .* rerun the flow"):
        Batch.from_xcom(None, flow_id="orders", stage="verify")


@pytest.mark.parametrize("version", [CONTRACT_VERSION + 1, CONTRACT_VERSION - 1, None])
def test_the_contract_refuses_a_batch_of_another_version(version: Any) -> None:
    wire = {**batch().to_xcom(), "contract": version}
    with pytest.raises(ContractError) as caught:
        Batch.from_xcom(wire, flow_id="orders", stage="promote")
    message = str(caught.value)
    assert "flow 'orders': promote" in message and f"stage contract {version!r}" in message
    assert f"reads version {CONTRACT_VERSION}" in message


def test_the_contract_refuses_a_value_that_is_not_a_batch_object() -> None:
    with pytest.raises(ContractError, match=r"flow 'orders': load received a batch of stage contract 'list'"):
        Batch.from_xcom([1, 2], flow_id="orders", stage="load")


def test_the_contract_refuses_unknown_fields_and_names_them() -> None:
    wire = {**batch().to_xcom(), "rows_moved": 3, "zzz": 1}
    with pytest.raises(
        ContractError, match=r"flow 'orders': load received unknown batch fields \['rows_moved', 'zzz'\]"
    ):
        Batch.from_xcom(wire, flow_id="orders", stage="load")


@pytest.mark.parametrize("missing", ["rows", "columns", "window", "flow_id"])
def test_the_contract_refuses_an_incomplete_batch(missing: str) -> None:
    wire = batch().to_xcom()
    del wire[missing]
    with pytest.raises(ContractError, match=r"flow 'orders': transform received an incomplete batch"):
        Batch.from_xcom(wire, flow_id="orders", stage="transform")


def test_the_contract_refuses_a_window_without_its_keys() -> None:
    wire = {**batch().to_xcom(), "window": {"from": None}}
    with pytest.raises(ContractError, match="malformed batch: window"):
        Batch.from_xcom(wire, flow_id="orders", stage="load")


def test_stage_timings_accumulate_without_changing_the_batch_they_came_from() -> None:
    first = batch().with_seconds(extract=1.0)
    second = first.with_seconds(load=2.0, extract=1.5)
    assert first.seconds == {"extract": 1.0} and second.seconds == {"extract": 1.5, "load": 2.0}


def test_a_batch_has_a_key_set_only_when_the_keys_file_was_landed() -> None:
    assert not batch().has_key_set
    assert batch(files={"data": "d", "keys": "k"}).has_key_set


# -- odd XCom values are refused as a ContractError, never accepted or leaked


@pytest.mark.parametrize(
    "changes",
    [
        {"columns": [["id", "bigint", "extra"]]},  # ValueError (unpacking) escapes from_xcom
        {"columns": [["id"]]},  # ValueError too
        {"files": None},  # accepted: TypeError later, inside a stage (batch.has_key_set)
        {"rows": "3"},  # accepted: a str where every stage does arithmetic / truthiness on an int
        {"contract": True},  # True == 1: a non-version is read as version 1
    ],
    ids=["column-of-three", "column-of-one", "files-none", "rows-str", "contract-true"],
)
def test_from_xcom_refuses_malformed_values_with_a_contract_error(changes: dict[str, Any]) -> None:
    wire = {**batch().to_xcom(), **changes}
    with pytest.raises(ContractError):
        Batch.from_xcom(wire, flow_id="orders", stage="load")
