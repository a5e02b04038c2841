"""``state migrate`` and ``state version``: the state schema of each state database, at deploy time.

Without ``--conn-id`` the commands work on every state connection (``state_conn_id``) of the
flows folder's valid specs. ``migrate`` brings each database to the version this syncgate
knows, under the same lock tasks use (a no-op when current), so deployments migrate once and
tasks only check the version. A database that cannot be reached does not stop the others;
each failure is reported at the end. A database newer than this syncgate is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from syncgate import settings
from syncgate.cli.flows import CliError
from syncgate.spec.loader import load_specs
from syncgate.state.migrations import StateSchemaTooNew, current_version, latest, migrate, too_new
from syncgate.state.schema import STEPS

if TYPE_CHECKING:
    import psycopg


def state_connections(folder: Path | None = None, *, err: TextIO | None = None) -> list[str]:
    """The state connection ids of the folder's valid specs, sorted; broken specs are named on ``err``."""
    folder = folder or settings.flows_dir()
    loaded = load_specs(folder)
    broken = [item.path.name for item in loaded if item.spec is None]
    if broken and err is not None:
        err.write(f"warning: not considered (invalid spec): {', '.join(broken)}\n")
    return sorted({str(item.spec.state_conn_id) for item in loaded if item.spec is not None})


def migrate_command(conn_ids: Sequence[str] | None, *, out: TextIO, err: TextIO | None = None) -> None:
    """Migrate each database; prints one line per database."""

    def action(conn: psycopg.Connection[Any]) -> str:
        before = current_version(conn)
        conn.commit()
        if before > latest(STEPS):
            raise too_new(conn, before, STEPS)
        applied = migrate(conn, STEPS)
        if not applied:
            return f"version {latest(STEPS)}, current: nothing to do"
        steps = ", ".join(str(v) for v in applied)
        return f"version {before} -> {latest(STEPS)} (applied migration {steps})"

    _each(conn_ids, action, out=out, err=err)


def version_command(conn_ids: Sequence[str] | None, *, out: TextIO, err: TextIO | None = None) -> None:
    """Print each database's version against the one this syncgate knows."""

    def action(conn: psycopg.Connection[Any]) -> str:
        version, known = current_version(conn), latest(STEPS)
        conn.commit()
        if version == known:
            return f"version {version}, current"
        if version > known:
            raise too_new(conn, version, STEPS)
        what = "no state schema yet" if version == 0 else f"behind this syncgate's {known}"
        return f"version {version}, {what}: run `python -m syncgate state migrate`"

    _each(conn_ids, action, out=out, err=err)


def _each(
    conn_ids: Sequence[str] | None,
    action: Callable[[psycopg.Connection[Any]], str],
    *,
    out: TextIO,
    err: TextIO | None,
) -> None:
    import psycopg

    from syncgate.db.connect import connect

    targets = list(conn_ids) if conn_ids else state_connections(err=err)
    if not targets:
        raise CliError(f"no flow in {settings.flows_dir()} names a state connection; pass --conn-id")
    unavailable: list[str] = []
    refused: list[str] = []
    for conn_id in targets:
        try:
            with connect(conn_id) as conn:
                out.write(f"{conn_id}: {action(conn)}\n")
        except StateSchemaTooNew as exc:
            refused.append(f"{conn_id}: {exc}")
        except psycopg.Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""  # DETAIL may quote values: left out
            unavailable.append(f"{conn_id}: {type(exc).__name__}: {first}")
        except Exception as exc:  # unknown conn id, unreachable host: never echo its parameters
            unavailable.append(f"{conn_id}: cannot open the state connection ({type(exc).__name__})")
    problems = refused + unavailable
    if problems:
        raise CliError("\n".join(problems), unavailable=not refused)
