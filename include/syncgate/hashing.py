"""Keyed hashing of PII columns (HMAC-SHA256), applied before a batch is landed."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from syncgate import settings
from syncgate.errors import FatalError

if TYPE_CHECKING:
    from syncgate.db.catalog import Columns
    from syncgate.spec.model import FlowSpec


def hash_keys(spec: FlowSpec, source_columns: Iterable[str]) -> dict[str, bytes]:
    """The source columns to hash before landing, each with the key (PII never lands in clear)."""
    names = list(source_columns)
    if not names:
        return {}
    key = settings.hash_key()
    if key is None:
        raise FatalError(
            f"flow {spec.id!r} hashes {', '.join(spec.transform.hash)} but SYNCGATE_HASH_KEY is not set: "
            "refusing to land PII with an unkeyed (reversible by dictionary) hash"
        )
    return dict.fromkeys(names, key)


def landed_columns(columns: Columns, hashed: dict[str, bytes]) -> Columns:
    """Column types as landed: hashed columns leave the source as text digests."""
    return [(c, "text" if c in hashed else t) for c, t in columns]


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


# What ``keyed_hash`` lands: a lower-case hex HMAC-SHA256 digest.
DIGEST_PATTERN = "^[0-9a-f]{64}$"


def unhashed_values(column: Any) -> int:
    """How many non-null values of a landed column are not keyed-hash digests."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(column, pa.string())
    return int(pc.sum(pc.invert(pc.match_substring_regex(text, DIGEST_PATTERN))).as_py() or 0)
