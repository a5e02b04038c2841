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
