"""Pages are rendered with autoescaping, strict variables, links under the app's mount path, and a CSP."""

from __future__ import annotations

import jinja2
import pytest
from starlette.requests import Request

from syncgate.ui.pages import PAGE_CSP, environment, render

pytestmark = pytest.mark.unit


def request(root_path: str = "") -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "root_path": root_path})


def test_values_are_html_escaped() -> None:
    assert (
        environment().from_string("{{ v }}").render(v="<script>x</script>")
        == "&lt;script&gt;x&lt;/script&gt;"
    )


def test_an_undefined_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(jinja2.UndefinedError):
        environment().from_string("{{ missing }}").render()


@pytest.mark.parametrize(
    ("template", "value", "shown"),
    [
        ("{{ v | q }}", "a/b c?", "a%2Fb%20c%3F"),
        ("{{ v | qpath }}", "validations/run 1/x.html", "validations/run%201/x.html"),
        (
            "{{ v | compact_json }}",
            {"b": 1, "a": "<é>"},
            "{&#34;a&#34;: &#34;&lt;é&gt;&#34;, &#34;b&#34;: 1}",
        ),
        ("{{ v | duration }}", 95, "1m 35s"),
        ("{{ v | count }}", 1234, "1,234"),
        ("{{ v | colour }}", "breach", "red"),
        ("{{ v | colour }}", None, "grey"),
    ],
)
def test_the_filters_pages_use(template: str, value: object, shown: str) -> None:
    assert environment().from_string(template).render(v=value) == shown


def test_the_sparkline_filter_inserts_svg_markup_unescaped() -> None:
    html = environment().from_string("{{ v | sparkline }}").render(v=[1, 2, 3])
    assert html.startswith("<svg") and "&lt;" not in html


def test_a_page_carries_the_csp_its_status_and_links_under_the_mount_path() -> None:
    response = render(
        request("/airflow/syncgate/"), "missing.html", status_code=404, message="gone", flow_id="a b"
    )
    body = bytes(response.body).decode()
    assert response.status_code == 404 and response.headers["content-security-policy"] == PAGE_CSP
    assert 'href="/airflow/syncgate/flows/a%20b"' in body and 'href="/airflow/syncgate/"' in body
    assert '<p class="empty" id="missing">gone</p>' in body


def test_links_at_the_root_when_the_app_is_not_mounted() -> None:
    body = bytes(render(request(), "missing.html", message="m", flow_id=None).body).decode()
    assert '<a href="/">Sync health</a>' in body and "/flows/" not in body
