"""PII scrubbing on a real, in-process GX context (pandas): what GX stores, Data Docs included."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncgate.quality.pii import columns_of, scrub_result, touches_pii

pytestmark = pytest.mark.unit


def test_expectations_touch_pii_through_any_column_kwarg_or_their_own_sql() -> None:
    pii = ["email"]
    assert touches_pii({"column": "email"}, pii)
    assert touches_pii({"column_A": "id", "column_B": "email"}, pii)
    assert touches_pii({"column_list": ["id", "email"]}, pii)
    assert touches_pii({"unexpected_rows_query": "SELECT * FROM {batch}"}, pii)
    assert not touches_pii({"column": "status"}, pii)
    assert not touches_pii({"value": 3}, pii)
    assert not touches_pii({"unexpected_rows_query": "SELECT 1"}, [])
    assert columns_of({"column_set": ["a", "b"], "column": "c"}) == {"a", "b", "c"}


def test_scrubbing_keeps_counts_only() -> None:
    result = {
        "element_count": 3,
        "unexpected_count": 2,
        "unexpected_percent": 66.7,
        "partial_unexpected_list": ["a@x"],
        "partial_unexpected_counts": [{"value": "a@x", "count": 1}],
        "observed_value": "a@x",
        "details": {"value_counts": [{"value": "a@x"}]},
    }
    assert scrub_result(result) == {"element_count": 3, "unexpected_count": 2, "unexpected_percent": 66.7}


def test_gx_stores_and_renders_no_pii_value(tmp_path: Path) -> None:
    import great_expectations as gx
    import pandas as pd
    from great_expectations.data_context.types.base import DataContextConfig, FilesystemStoreBackendDefaults

    from syncgate.quality.pii import guard_store

    config = DataContextConfig(
        store_backend_defaults=FilesystemStoreBackendDefaults(root_directory=str(tmp_path)),
        analytics_enabled=False,
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    guard_store(context, ["email"])
    frame = pd.DataFrame(
        {"email": ["hidden-one@pii.example", "hidden-two@pii.example"], "city": ["Oz", "Oz"]}
    )
    batch = (
        context.data_sources.add_pandas("p")
        .add_dataframe_asset("a")
        .add_batch_definition_whole_dataframe("b")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="s"))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToMatchRegex(column="email", regex="^nobody$"))
    suite.add_expectation(
        gx.expectations.ExpectColumnMostCommonValueToBeInSet(column="email", value_set=["x"])
    )
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column="city", value_set=["Paris"]))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="v", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="c",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs")],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
        )
    )
    outcome = checkpoint.run(batch_parameters={"dataframe": frame})
    assert not outcome.success
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    assert "validations" in written and "Oz" in written  # non-PII samples are stored and rendered
    assert "pii.example" not in written
    in_memory = str([v.to_json_dict() for v in outcome.run_results.values()])
    assert "pii.example" not in in_memory and "Oz" in in_memory


def test_a_database_error_on_a_pii_column_loses_its_message() -> None:
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from syncgate.quality.pii import SCRUBBED, scrub_validation

    def checked(column: str) -> ExpectationValidationResult:
        return ExpectationValidationResult(
            success=False,
            expectation_config=ExpectationConfiguration(
                type="expect_column_values_to_be_in_set", kwargs={"column": column, "value_set": [1]}
            ),
            result={"unexpected_count": 1, "partial_unexpected_list": ["x@pii.example"]},
            exception_info={
                "raised_exception": True,
                "exception_message": 'invalid input syntax for type integer: "x@pii.example"',
                "exception_traceback": "Traceback ... x@pii.example",
            },
        )

    validation = ExpectationSuiteValidationResult(
        success=False, results=[checked("email"), checked("city")], suite_name="s"
    )
    assert scrub_validation(validation, ["email"]) == 1
    email, city = validation.results
    assert email.result == {"unexpected_count": 1}
    assert email.exception_info == {
        "raised_exception": True, "exception_message": SCRUBBED, "exception_traceback": None,
    }  # fmt: skip
    assert "x@pii.example" in str(city.to_json_dict())  # other columns are left as GX made them
