from __future__ import annotations

from typing import Any

import pytest

from syncgate.connectors.http.keyset import Keyset
from syncgate.connectors.http.pagination import PaginationLoopError, Paginator
from syncgate.connectors.http.spec import Pagination
from syncgate.errors import FatalError

pytestmark = pytest.mark.unit

PAGE = Pagination(style="page", page_param="page", size_param="per_page", size=3)
OFFSET = Pagination(style="offset", offset_param="offset", size_param="limit", size=3)


class Api:
    """A live list ordered by (u, id), filtered by ``since`` (inclusive), paged by page or offset."""

    def __init__(self, rows: dict[int, int], honour_filter: bool = True) -> None:
        self.rows = dict(rows)  # id -> cursor
        self.honour_filter = honour_filter
        self.requests: list[dict[str, Any]] = []

    def get(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.requests.append(params)
        since = params.get("since") if self.honour_filter else None
        found = sorted((u, i) for i, u in self.rows.items() if since is None or u >= since)
        start = params["offset"] if "offset" in params else (params["page"] - 1) * 3
        return [{"id": i, "u": u} for u, i in found[start : start + 3]]


def read(api: Api, pager: Paginator, between: Any = None, limit: int = 100) -> list[tuple[int, int]]:
    landed = []
    while not pager.done and limit:
        limit -= 1
        page = api.get(dict(pager.request().params or {}))
        if between:
            between(len(api.requests))
        landed += [(r["id"], r["u"]) for r in pager.advance({}, {}, page, "u")]
    return landed


def pager(style: Pagination = PAGE, lower: int | None = None, upper: int | None = None) -> Paginator:
    keyset = Keyset(param="since", cursor_path="u", key_paths=("id",), lower=lower, upper=upper)  # type: ignore[arg-type]
    params = {"since": lower} if lower is not None else {}
    return Paginator(style, "/x", params, keyset=keyset)


@pytest.mark.parametrize("style", [PAGE, OFFSET])
def test_each_full_page_re_anchors_on_the_newest_cursor_and_skips_what_was_read(style: Pagination) -> None:
    api = Api({i: i * 10 for i in range(1, 9)})
    p = pager(style)
    landed = read(api, p)
    assert [i for i, _ in landed] == list(range(1, 9))  # each once
    assert api.requests[1]["since"] == 30 and api.requests[1].get("page", 1) == 1
    assert api.requests[1].get("offset", 0) == 0


@pytest.mark.parametrize("style", [PAGE, OFFSET])
def test_records_moving_or_vanishing_mid_extraction_skip_nothing(style: Pagination) -> None:
    api = Api({i: i * 10 for i in range(1, 11)})

    def activity(n: int) -> None:
        if n == 1:
            api.rows[1] = 1000  # updated: moves to the end
            del api.rows[2]  # deleted: everything shifts back

    landed = read(api, pager(style), activity)
    assert set(api.rows) - {i for i, _ in landed} == set()  # every live record was read
    assert (1, 1000) in landed  # the new version was read again (dedupe keeps it)


def test_more_records_at_one_cursor_value_than_a_page_holds_page_on_within_the_anchor() -> None:
    api = Api({1: 5, **{i: 10 for i in range(2, 10)}, 10: 20})
    landed = read(api, pager())
    assert sorted(i for i, _ in landed) == list(range(1, 11)) and len(landed) == 10


def test_a_server_ignoring_the_page_within_an_anchor_is_a_loop() -> None:
    api = Api({i: 10 for i in range(1, 10)})
    api_get = api.get
    api.get = lambda params: api_get({**params, "page": 1})  # type: ignore[method-assign]
    with pytest.raises(PaginationLoopError, match="pagination loop"):
        read(api, pager())


def test_an_api_ignoring_the_cursor_filter_falls_back_to_positions(caplog: pytest.LogCaptureFixture) -> None:
    api = Api({i: i * 10 for i in range(1, 9)}, honour_filter=False)
    landed = read(api, pager())
    assert sorted({i for i, _ in landed}) == list(range(1, 9))
    assert "ignored `since`" in caplog.text


def test_an_unordered_first_page_falls_back_to_positions_later_ones_fail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = pager()
    p.advance({}, {}, [{"id": 1, "u": 30}, {"id": 2, "u": 10}, {"id": 3, "u": 20}], "u")
    assert "not ordered" in caplog.text and p.request().params == {"per_page": 3, "page": 2}
    p = pager()
    p.advance({}, {}, [{"id": 1, "u": 10}, {"id": 2, "u": 20}, {"id": 3, "u": 30}], "u")
    with pytest.raises(FatalError, match="not ordered by the cursor"):
        p.advance({}, {}, [{"id": 4, "u": 50}, {"id": 5, "u": 40}, {"id": 6, "u": 60}], "u")


def test_the_window_bounds_anchor_and_end_the_paging() -> None:
    api = Api({i: i * 10 for i in range(1, 20)})
    p = pager(lower=30, upper=70)
    landed = read(api, p)
    assert api.requests[0]["since"] == 30 and p.done
    assert len(api.requests) == 2  # the second page reaches the window's end: no more reading
    assert [i for i, _ in landed][:5] == [3, 4, 5, 6, 7]


def test_the_anchor_is_saved_with_the_paginator_state() -> None:
    p = pager()
    p.advance({}, {}, [{"id": 1, "u": 10}, {"id": 2, "u": 20}, {"id": 3, "u": 20}], "u")
    resumed = Paginator(PAGE, "/x", {}, dict(p.state), keyset=p.keyset)
    assert resumed.request().params == {"since": 20, "per_page": 3, "page": 1}
    fresh = resumed.advance({}, {}, [{"id": 2, "u": 20}, {"id": 3, "u": 20}, {"id": 4, "u": 20}], "u")
    assert fresh == [{"id": 4, "u": 20}]


def test_undeclared_names_resolve_like_columns_and_keyless_records_are_never_skipped() -> None:
    keyset = Keyset(param="since", cursor_path="changed_at", key_paths=("first_name",))
    assert keyset.cursor({"changed-at": 5}) == 5 and keyset.key({"first-name": "Ada"}) == "Ada"
    assert keyset.key({"id": 1}) is None
    p = Paginator(PAGE, "/x", {}, keyset=keyset)
    page = [{"changed-at": 1}, {"changed-at": 2, "first-name": "A"}, {"changed-at": 2}]
    assert p.advance({}, {}, page, "u") == page
    assert p.state["anchor"] == 2 and p.state["anchor_keys"] == ["A"]
    assert p.advance({}, {}, page[1:] + [{"changed-at": 3, "first-name": "B"}], "u") == [
        {"changed-at": 2},
        {"changed-at": 3, "first-name": "B"},
    ]
