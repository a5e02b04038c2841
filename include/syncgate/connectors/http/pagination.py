"""Plan the requests of a paginated list: page numbers, offsets, tokens or ``Link`` headers.

The paginator's whole state is a JSON-able dict, so an interrupted extraction can resume from
the next page request. Loops are caught: a repeated token or next URL, or a page whose records
are identical to an earlier page's read from the same anchor (a server ignoring the page or
offset parameter). Page and offset styles re-anchor on the cursor when the source can filter
by it (``syncgate.connectors.http.keyset``): positions alone skip records on a live API.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from syncgate.connectors.http import keyset as keysets
from syncgate.connectors.http.records import MISSING, dig
from syncgate.connectors.http.spec import Pagination
from syncgate.errors import FatalError

# Loop detection remembers this many recent tokens / links / page digests: bounded memory and
# checkpoint size however long the extraction, and real loops cycle far sooner.
REMEMBERED = 1000


def _remember(seen: list[str], value: str) -> None:
    seen.append(value)
    del seen[:-REMEMBERED]


class PaginationLoopError(FatalError):
    """The API sent the extraction back to a page it had already read."""


def _first_visit(state: dict[str, Any], value: str, what: str) -> str:
    """``value`` (a next token or link), remembered; a value seen before is a pagination loop."""
    if value in state["seen_tokens"]:
        raise PaginationLoopError(
            f"pagination loop: {what} (after {state['pages']} pages); stopping instead of reading pages again"
        )
    _remember(state["seen_tokens"], value)
    return value


@dataclass(frozen=True)
class PageRequest:
    """One request: an endpoint path (or the absolute URL of a ``Link``) and its query."""

    url: str
    params: dict[str, Any] | None


class Paginator:
    """Walks the pages of one list endpoint."""

    def __init__(
        self,
        pagination: Pagination | None,
        endpoint: str,
        params: dict[str, Any],
        state: dict[str, Any] | None = None,
        keyset: keysets.Keyset | None = None,
    ) -> None:
        self.pagination = pagination
        self.endpoint = endpoint
        self.params = params
        positional = pagination is not None and pagination.style in ("page", "offset")
        self.keyset = keyset if positional else None
        first = pagination.first_page if pagination and pagination.style == "page" else 0
        self.first = first
        self.state: dict[str, Any] = state or {
            "page": first,
            "offset": 0,
            "token": None,
            "url": None,
            "done": False,
            "pages": 0,
            "largest": 0,
            "seen_tokens": [],
            "seen_pages": [],
            **(keysets.initial_state(self.keyset) if self.keyset else {}),
        }

    @property
    def done(self) -> bool:
        return bool(self.state["done"])

    def request(self) -> PageRequest:
        """The next request to send."""
        p, s = self.pagination, self.state
        if p is not None and p.style == "link" and s["url"]:
            return PageRequest(s["url"], None)
        params = dict(self.params)
        keyset = self._keyset()
        if keyset is not None and s.get("anchor") is not None:
            params[keyset.param] = s["anchor"]
        if p is not None:
            if p.size_param and p.size:
                params[p.size_param] = p.size
            if p.style == "page":
                params[str(p.page_param)] = s["page"]
            elif p.style == "offset":
                params[str(p.offset_param)] = s["offset"]
            elif p.style == "token" and s["token"] is not None:
                params[str(p.token_param)] = s["token"]
        return PageRequest(self.endpoint, params)

    def advance(self, body: Any, headers: dict[str, str], records: list[Any], url: str) -> list[Any]:
        """Move past the page just read (``url``: where it came from, for relative links).

        Returns the page's records that are new to this run (all of them, unless re-anchored
        paging read some of them before).
        """
        p, s = self.pagination, self.state
        count = len(records)
        self._check_repeat(records)
        s["pages"] += 1
        largest = s["largest"]
        s["largest"] = max(largest, count)
        if p is None:
            s["done"] = True
        elif p.style in ("page", "offset"):
            # Stop at an empty page, or one shorter than an earlier page: a server that caps
            # the page size below ``size`` is then still read to the end.
            s["done"] = count == 0 or count < largest
            keyset = self._keyset()
            if keyset is not None:
                return keysets.step(keyset, s, records, self.first)
            s["page"] += 1
            s["offset"] += count
        elif p.style == "token":
            token = dig(body, str(p.token_path))
            if token is MISSING or token is None or token == "":
                s["done"] = True
            else:
                s["token"] = _first_visit(
                    s, str(token), f"the API sent a `{p.token_param}` token it had already sent"
                )
        else:
            target = next_link(headers)
            if target is None:
                s["done"] = True
            else:
                s["url"] = _first_visit(
                    s, urljoin(url, target), 'a `Link: rel="next"` header points back to a page already read'
                )
        return records

    def _keyset(self) -> keysets.Keyset | None:
        """The re-anchoring in use (none, or given up on an API that does not support it)."""
        return self.keyset if self.state.get("keyset") else None

    def _check_repeat(self, records: list[Any]) -> None:
        if not records:
            return
        # Per anchor: a re-anchored first page may legitimately repeat a page read before.
        anchor = self.state.get("anchor")
        digest = hashlib.sha256(_canonical([anchor, records] if anchor is not None else records)).hexdigest()[
            :20
        ]
        if digest in self.state["seen_pages"]:
            where = self.pagination.style if self.pagination else "single"
            raise PaginationLoopError(
                f"pagination loop: page {self.state['pages'] + 1} ({where} style) holds exactly the records "
                "of an earlier page; the API ignores the paging parameter or sends the extraction back"
            )
        _remember(self.state["seen_pages"], digest)


def _canonical(value: Any) -> bytes:
    """Decoded JSON as bytes, keys sorted: equal values give equal bytes, for the page digest.

    msgspec's encoder is several times faster than ``json.dumps(sort_keys=True)`` on a page of
    records (it writes NaN and infinities as null, which only a digest of a page otherwise
    identical to an earlier one could notice); values it cannot encode fall back to ``json``.
    """
    import msgspec

    try:
        return _sorted_encoder().encode(value)  # type: ignore[no-any-return]
    except (msgspec.EncodeError, TypeError, ValueError, OverflowError):
        return json.dumps(value, sort_keys=True, default=str).encode()


@functools.cache
def _sorted_encoder() -> Any:
    import msgspec

    return msgspec.json.Encoder(order="sorted")


def next_link(headers: dict[str, str]) -> str | None:
    """The ``rel="next"`` target of an RFC 8288 ``Link`` header, if any."""
    from requests.utils import parse_header_links

    value = next((v for k, v in headers.items() if k.lower() == "link"), None)
    if not value:
        return None
    for link in parse_header_links(value):
        rels = str(link.get("rel", "")).lower().split()
        if "next" in rels and link.get("url"):
            return str(link["url"])
    return None
