"""``state migrate`` / ``state version``: which state connections, and the refusals that need no database."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from syncgate.cli.main import EXIT_REFUSED, EXIT_UNAVAILABLE, build_parser, main
from syncgate.cli.state import state_connections

pytestmark = pytest.mark.unit

FLOW = """
id: {id}
source: {{type: postgres, conn_id: src, table: public.t, primary_key: [id], cursor: updated_at}}
target: {{type: postgres, conn_id: {target}, table: public.t}}
"""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(tmp_path))
    return tmp_path


def test_every_state_connection_of_the_folder_once_sorted_broken_specs_named(flows: Path) -> None:
    (flows / "a.yml").write_text(FLOW.format(id="a", target="whs_b"))
    (flows / "b.yml").write_text(FLOW.format(id="b", target="whs_a"))
    (flows / "c.yml").write_text(FLOW.format(id="c", target="whs_b"))
    (flows / "broken.yml").write_text("id: [")
    err = io.StringIO()
    assert state_connections(err=err) == ["whs_a", "whs_b"]
    assert "not considered (invalid spec): broken.yml" in err.getvalue()


def test_conn_ids_are_repeatable_and_default_to_the_flows() -> None:
    args = build_parser().parse_args(["state", "migrate", "--conn-id", "a", "--conn-id", "b"])
    assert (args.command, args.action, args.conn_ids) == ("state", "migrate", ["a", "b"])
    assert build_parser().parse_args(["state", "version"]).conn_ids is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["state"])


def test_a_folder_without_flows_needs_a_conn_id(flows: Path) -> None:
    code, out, err = run("state", "migrate")
    assert code == EXIT_REFUSED and out == "" and "pass --conn-id" in err


def test_an_unknown_connection_is_unavailable_without_echoing_parameters(flows: Path) -> None:
    code, out, err = run("state", "version", "--conn-id", "no_such_conn")
    assert code == EXIT_UNAVAILABLE and out == ""
    assert "no_such_conn: cannot open the state connection" in err
