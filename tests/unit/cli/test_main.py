"""``python -m syncgate`` argument parsing and exit codes (no database: refusals that need none)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from syncgate.cli.main import EXIT_REFUSED, build_parser, main

pytestmark = pytest.mark.unit


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(args), out=out, err=err), out.getvalue(), err.getvalue()


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(folder))
    return folder


def test_list_defaults_to_the_newest_50_parked_conflicts_of_every_flow() -> None:
    args = build_parser().parse_args(["conflicts", "list"])
    assert (args.action, args.flow, args.status, args.limit, args.json) == ("list", None, "parked", 50, False)
    args = build_parser().parse_args(
        ["conflicts", "list", "--flow", "f", "--status", "all", "--limit", "3", "--json"]
    )
    assert (args.flow, args.status, args.limit, args.json) == ("f", "all", 3, True)


def test_resolve_takes_an_id_and_a_side() -> None:
    args = build_parser().parse_args(["conflicts", "resolve", "12", "--side", "crm", "--by", "ana"])
    assert (args.action, args.conflict_id, args.side, args.by, args.flow) == (
        "resolve",
        12,
        "crm",
        "ana",
        None,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["conflicts", "list", "--status", "open"],
        ["conflicts", "list", "--limit", "0"],
        ["conflicts", "list", "--limit", "many"],
        ["conflicts", "resolve", "12"],  # --side is required
        ["conflicts", "resolve", "-3", "--side", "a"],
        ["conflicts"],
        [],
    ],
)
def test_bad_usage_exits_2_with_argparse_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and "usage:" in capsys.readouterr().err


def test_an_unknown_flow_is_refused_with_exit_code_2(flows: Path) -> None:
    (flows / "broken.yml").write_text("id: [not, valid")
    code, out, err = run("conflicts", "list", "--flow", "nope")
    assert (code, out) == (EXIT_REFUSED, "")
    assert err.startswith("error: no sync flow 'nope' in ") and "failed to load: broken.yml" in err
    code, _, err = run("conflicts", "resolve", "4", "--side", "a", "--flow", "nope")
    assert code == EXIT_REFUSED and "no sync flow 'nope'" in err


def test_without_sync_flows_list_says_so_or_prints_an_empty_json_array(flows: Path) -> None:
    assert run("conflicts", "list") == (
        0,
        "No sync flows (two_way / multi_way specs) in the flows folder.\n",
        "",
    )
    code, out, _ = run("conflicts", "list", "--json")
    assert code == 0 and json.loads(out) == []
    code, _, err = run("conflicts", "resolve", "4", "--side", "a")
    assert code == EXIT_REFUSED and err == "error: no conflict 4 in the conflict log of any sync flow\n"
