"""the ADBC extract hashes PII columns to the same digests as the COPY CSV extract."""

from __future__ import annotations

import pytest
from helpers import execute, make_spec
from test_extract_drivers import EDGE_ROWS, EVERY_TYPE, PLAIN, _count_adbc_fetches, _extract, _landed

pytestmark = pytest.mark.integration

HASHED = [
    "small",
    "whole",
    "ratio",
    "score",
    "flag",
    "note",
    "code",
    "amount",
    "day",
    "at",
    "doc",
    "tags",
    "blob",
]


def test_adbc_hashes_pii_columns_like_copy_csv(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCGATE_HASH_KEY", "review3-" + "k" * 32)
    execute(databases["src"], EVERY_TYPE, EDGE_ROWS)
    spec = make_spec(**{**PLAIN, "transform": {"hash": HASHED}})
    by_copy = _landed(_extract(spec, monkeypatch, "copy"))
    fetched = _count_adbc_fetches(monkeypatch)
    by_adbc = _landed(_extract(spec, monkeypatch, "adbc"))
    assert len(fetched) == 1 and fetched[0] is not None  # the ADBC path really ran
    assert by_adbc.schema.equals(by_copy.schema, check_metadata=True)
    for name in HASHED:
        assert by_adbc.column(name).to_pylist() == by_copy.column(name).to_pylist(), name
    assert [repr(r) for r in by_adbc.to_pylist()] == [repr(r) for r in by_copy.to_pylist()]  # NaN == NaN


def test_extract_refuses_a_source_that_landed_a_hashed_column_in_clear(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever connector read the batch, PII named by ``transform.hash`` never goes further in clear."""
    from helpers import new_run

    from syncgate import landing
    from syncgate.connectors.postgres import source as postgres_source
    from syncgate.errors import FatalError
    from syncgate.pipeline.extract import extract

    monkeypatch.setenv("SYNCGATE_HASH_KEY", "k" * 32)
    execute(databases["src"], EVERY_TYPE, EDGE_ROWS)
    spec = make_spec(**{**PLAIN, "transform": {"hash": ["note"]}})
    # A connector that forgets to hash: it lands every column as read.
    monkeypatch.setattr(postgres_source, "hash_keys", lambda flow, names: {})
    with pytest.raises(FatalError, match="landed column\\(s\\) note unhashed"):
        extract(spec, new_run(spec))
    flow_dir = landing.as_path(landing.batch_dir(spec.id, "probe").parent.as_uri())
    assert not [p for p in flow_dir.rglob("data.parquet")], "the batch landed in clear stayed"
