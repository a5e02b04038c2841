"""``cdc setup`` / ``cdc drop``: argument parsing and the refusals that need no database."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from syncgate.cli.main import EXIT_REFUSED, main

pytestmark = pytest.mark.unit

CURSOR_FLOW = """
id: polled
source: {type: postgres, conn_id: src, table: public.t, primary_key: [id], cursor: updated_at}
target: {type: postgres, conn_id: dst, table: public.t}
"""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_an_unknown_flow_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(tmp_path))
    code, _, err = run("cdc", "setup", "nope")
    assert code == EXIT_REFUSED and "no flow 'nope'" in err


def test_a_cursor_flow_is_refused_with_what_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "polled.yml").write_text(CURSOR_FLOW)
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(tmp_path))
    code, _, err = run("cdc", "drop", "polled")
    assert code == EXIT_REFUSED and "capture: wal" in err


def test_an_action_is_required() -> None:
    with pytest.raises(SystemExit):
        run("cdc")
