"""PII columns are hashed with a keyed HMAC before landing, and never without a key."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa
import pytest

from syncgate.errors import FatalError
from syncgate.hashing import hash_keys, keyed_hash, unhashed_values
from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.unit

SPEC = FlowSpec.model_validate(
    {
        "id": "people",
        "source": {"type": "postgres", "conn_id": "src", "table": "p", "primary_key": ["id"]},
        "target": {"type": "postgres", "conn_id": "dst", "table": "p"},
        "transform": {"hash": ["email"]},
    }
)


def test_each_hashed_column_gets_the_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCGATE_HASH_KEY", "k1")
    assert hash_keys(SPEC, ["email", "phone"]) == {"email": b"k1", "phone": b"k1"}


def test_no_columns_to_hash_need_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCGATE_HASH_KEY", raising=False)
    assert hash_keys(SPEC, []) == {}


def test_hashing_without_a_key_refuses_to_land_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCGATE_HASH_KEY", raising=False)
    with pytest.raises(FatalError, match=r"flow 'people' hashes email but SYNCGATE_HASH_KEY is not set"):
        hash_keys(SPEC, ["email"])


def test_a_value_hashes_to_its_hmac_sha256_and_nulls_stay_null() -> None:
    column = pa.chunked_array([["a@b.c", None], ["a@b.c", "x"]])
    digests = keyed_hash(column, b"key").to_pylist()
    expected = hmac.new(b"key", b"a@b.c", hashlib.sha256).hexdigest()
    assert digests == [expected, None, expected, hmac.new(b"key", b"x", hashlib.sha256).hexdigest()]


def test_another_key_gives_other_digests_and_numbers_hash_as_their_text() -> None:
    # A table column, as the transform and the sources hand it over.
    def column(values: list[object]) -> pa.ChunkedArray:
        return pa.table({"c": values}).column("c")

    assert keyed_hash(column(["v"]), b"k1").to_pylist() != keyed_hash(column(["v"]), b"k2").to_pylist()
    assert keyed_hash(column([42]), b"k").to_pylist() == [hmac.new(b"k", b"42", hashlib.sha256).hexdigest()]


def test_only_keyed_hash_digests_count_as_hashed() -> None:
    import pyarrow as pa

    digests = keyed_hash(pa.chunked_array([["a@example.com", None, "b@example.com"]]), b"k" * 32)
    assert unhashed_values(digests) == 0  # nulls stay null and are not counted
    clear = pa.array(["a@example.com", None, "0" * 64, "F" * 64])
    assert unhashed_values(clear) == 2  # an e-mail and an upper-case pseudo digest
