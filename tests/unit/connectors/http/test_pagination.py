from __future__ import annotations

from typing import Any

import pytest

from syncgate.connectors.http.pagination import PageRequest, PaginationLoopError, Paginator, next_link
from syncgate.connectors.http.spec import Pagination

pytestmark = pytest.mark.unit


def records(*ids: int) -> list[dict[str, Any]]:
    return [{"id": i} for i in ids]


def test_page_style_counts_pages_and_stops_at_a_short_page() -> None:
    p = Paginator(
        Pagination(style="page", page_param="page", size_param="per_page", size=2), "/v1/c", {"status": "all"}
    )
    assert p.request() == PageRequest("/v1/c", {"status": "all", "per_page": 2, "page": 1})
    p.advance({}, {}, records(1, 2), "u")
    assert p.request().params == {"status": "all", "per_page": 2, "page": 2} and not p.done
    p.advance({}, {}, records(3), "u")
    assert p.done


def test_a_server_capping_the_page_size_is_read_to_the_end() -> None:
    p = Paginator(Pagination(style="offset", offset_param="offset", size_param="limit", size=1000), "/x", {})
    p.advance({}, {}, records(1, 2, 3), "u")  # the server caps at 3: not the last page yet
    assert not p.done and p.request().params == {"limit": 1000, "offset": 3}
    p.advance({}, {}, records(4, 5, 6), "u")
    p.advance({}, {}, [], "u")
    assert p.done and p.state["offset"] == 6


def test_token_style_follows_the_body_and_stops_on_null() -> None:
    p = Paginator(Pagination(style="token", token_path="meta.next", token_param="cursor"), "/v2", {})
    assert p.request().params == {}
    p.advance({"meta": {"next": "abc"}}, {}, records(1), "u")
    assert p.request().params == {"cursor": "abc"}
    p.advance({"meta": {"next": None}}, {}, records(2), "u")
    assert p.done


@pytest.mark.parametrize("body", [{"meta": {}}, {"meta": {"next": ""}}, {}])
def test_an_absent_or_empty_token_ends_paging(body: dict[str, Any]) -> None:
    p = Paginator(Pagination(style="token", token_path="meta.next", token_param="cursor"), "/v2", {})
    p.advance(body, {}, records(1), "u")
    assert p.done


def test_a_repeated_token_is_a_loop() -> None:
    p = Paginator(Pagination(style="token", token_path="next", token_param="c"), "/v2", {})
    p.advance({"next": "t1"}, {}, records(1), "u")
    p.advance({"next": "t2"}, {}, records(2), "u")
    with pytest.raises(PaginationLoopError, match="token it had already sent"):
        p.advance({"next": "t1"}, {}, records(3), "u")


def test_link_style_follows_rel_next_and_resolves_relative_links() -> None:
    p = Paginator(Pagination(style="link", size_param="per_page", size=10), "/v3/c", {"updated_since": "x"})
    assert p.request() == PageRequest("/v3/c", {"updated_since": "x", "per_page": 10})
    p.advance(
        [], {"Link": '</v3/c?page=2>; rel="next", </v3/c?page=9>; rel="last"'}, records(1), "http://h/v3/c"
    )
    assert p.request() == PageRequest("http://h/v3/c?page=2", None)
    p.advance([], {}, records(2), "http://h/v3/c?page=2")
    assert p.done


def test_a_link_back_to_a_read_page_is_a_loop() -> None:
    p = Paginator(Pagination(style="link"), "/v3", {})
    p.advance([], {"link": '<http://h/v3?page=2>; rel="next"'}, records(1), "http://h/v3")
    with pytest.raises(PaginationLoopError, match="already read"):
        p.advance([], {"link": '<http://h/v3?page=2>; rel="next"'}, records(2), "http://h/v3?page=2")


def test_a_page_repeating_an_earlier_page_is_a_loop() -> None:
    p = Paginator(Pagination(style="page", page_param="page"), "/v1", {})
    p.advance({}, {}, records(1, 2), "u")
    p.advance({}, {}, records(3, 4), "u")
    with pytest.raises(PaginationLoopError, match="page 3 .*records of an earlier page"):
        p.advance({}, {}, records(1, 2), "u")


def test_no_pagination_is_one_request() -> None:
    p = Paginator(None, "/all", {"a": 1})
    assert p.request() == PageRequest("/all", {"a": 1})
    p.advance({}, {}, records(1, 2), "u")
    assert p.done


def test_the_state_resumes_where_it_stopped() -> None:
    spec = Pagination(style="page", page_param="p", first_page=0)
    first = Paginator(spec, "/v1", {})
    first.advance({}, {}, records(1), "u")
    resumed = Paginator(spec, "/v1", {}, state=first.state)
    assert resumed.request().params == {"p": 1}
    with pytest.raises(PaginationLoopError):
        resumed.advance({}, {}, records(1), "u")


def test_next_link_ignores_other_relations() -> None:
    assert next_link({"Link": '<http://h/a>; rel="prev"'}) is None
    assert next_link({}) is None
    assert next_link({"Link": '<http://h/b>; rel="next last"'}) == "http://h/b"
