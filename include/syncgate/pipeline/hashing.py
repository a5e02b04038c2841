"""Keyed hashing of PII columns (HMAC-SHA256), applied before a batch is landed."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any


def keyed_hash(column: Any, key: bytes) -> Any:
    """HMAC-SHA256 hex digest per value (nulls stay null); computed once per distinct value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from syncgate.arrow_values import from_list

    text = pc.cast(column, pa.string()).combine_chunks()
    encoded = text.dictionary_encode()
    digests = from_list(
        [None if v is None else hmac.new(key, v.encode(), hashlib.sha256).hexdigest()
         for v in encoded.dictionary.to_pylist()],
        pa.string(),
    )  # fmt: skip
    return pc.take(digests, encoded.indices)
