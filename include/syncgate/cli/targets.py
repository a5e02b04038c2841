"""``targets list`` and ``targets release``: which flow owns each target, and handing one over.

A target belongs to the first flow that promoted into it (``state/target_owners.py``); another
flow's promote is refused with the exact ``release`` command to run. Releasing is the operator's
decision that the other flow may take the target over (a renamed flow, a replacing spec): the
next flow to promote into it becomes its owner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from syncgate.cli.flows import CliError

if TYPE_CHECKING:
    from collections.abc import Callable


def list_command(conn_id: str, *, out: TextIO) -> None:
    from syncgate.state.target_owners import owners

    found = _with_state(conn_id, owners)
    if not found:
        out.write(f"no target has an owner yet in {conn_id}\n")
    for target, flow, claimed in found:
        out.write(f"{target}\t{flow}\t{claimed:%Y-%m-%d %H:%M}\n")


def release_command(conn_id: str, target: str, owner: str, *, out: TextIO) -> None:
    from syncgate.state.target_owners import release

    if not _with_state(conn_id, lambda conn: release(conn, target, owner)):
        raise CliError(f"{target} is not owned by flow {owner!r} in {conn_id}: nothing released")
    out.write(f"released {target} (was owned by {owner}): the next flow to promote into it owns it\n")


def _with_state(conn_id: str, body: Callable[[Any], Any]) -> Any:
    import psycopg

    from syncgate.db.connect import connect

    try:
        conn = connect(conn_id)
    except Exception as exc:  # unknown conn id, unreachable host: never echo its parameters
        raise CliError(
            f"cannot open state connection {conn_id!r} ({type(exc).__name__})", unavailable=True
        ) from None
    try:
        with conn, conn.transaction():
            return body(conn)
    except psycopg.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise CliError(
            f"state database {conn_id!r}: {type(exc).__name__}: {first}", unavailable=True
        ) from None
