"""Parse ``python -m syncgate`` arguments and dispatch to a command; returns the exit code.

Exit codes: 0 done; 1 the state database could not be read or written; 2 bad usage or a
refused request (unknown flow or conflict, a conflict that is not parked, a side not in the
flow, a state schema newer than this syncgate), as argparse itself uses 2 for usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from syncgate.cli import cdc, conflicts, notify, state, targets
from syncgate.cli.flows import CliError
from syncgate.conflicts.log import STATUSES

log = logging.getLogger(__name__)

EXIT_OK, EXIT_UNAVAILABLE, EXIT_REFUSED = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m syncgate", description="syncgate operator commands")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    group = commands.add_parser(
        "conflicts", help="the conflict log of two-way and multi-way flows",
        description="List the conflict log of sync flows; resolve a parked conflict (the next run applies it).",
    )  # fmt: skip
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="list conflicts, newest first")
    listing.add_argument("--flow", help="one flow's conflicts (default: every sync flow's)")
    listing.add_argument("--status", choices=STATUSES, default="parked", help="default: parked")
    listing.add_argument("--limit", type=_positive, default=50, help="at most N rows (default 50)")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")

    resolving = actions.add_parser("resolve", help="choose the side whose value wins a parked conflict")
    resolving.add_argument("conflict_id", type=_positive, metavar="CONFLICT_ID", help="the id `list` shows")
    resolving.add_argument("--side", required=True, help="the side whose value wins (a side of the flow)")
    resolving.add_argument("--by", default=None, help="who resolves it (default: the OS user)")
    resolving.add_argument(
        "--flow", help="the conflict's flow (needed only when two state databases share an id)"
    )

    capture = commands.add_parser(
        "cdc", help="the replication slot and publication of wal flows (source.capture: wal)",
        description="Create or drop a wal flow's publication and logical replication slot on its source.",
    )  # fmt: skip
    cdc_actions = capture.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("setup", "create the flow's publication and slot (idempotent)"),
        ("drop", "drop the flow's slot and publication (frees the WAL the slot holds)"),
    ):
        cdc_actions.add_parser(name, help=text).add_argument("flow_id", metavar="FLOW_ID")

    notifying = commands.add_parser(
        "notify-sql", help="print the SQL that makes a flow's source table NOTIFY its channel",
        description="Print (not run) the trigger function and statement-level trigger that call "
        "pg_notify on the channel of the flow's postgres_notify trigger after every change.",
    )  # fmt: skip
    notifying.add_argument("flow", metavar="FLOW_ID", help="a flow with a postgres_notify trigger")

    schema = commands.add_parser(
        "state", help="the syncgate state schema of the state databases (versioned migrations)",
        description="Migrate the state schema of every state database the flows use (run it at "
        "deploy time: tasks then only check its version), or show each database's version.",
    )  # fmt: skip
    state_actions = schema.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("migrate", "apply the migrations a database lacks (under a lock; a no-op when current)"),
        ("version", "print each database's state schema version and whether it is current"),
    ):
        state_actions.add_parser(name, help=text).add_argument(
            "--conn-id", action="append", dest="conn_ids", metavar="CONN_ID",
            help="this state connection only (repeatable; default: every flow's state_conn_id)",
        )  # fmt: skip
    owned = commands.add_parser(
        "targets", help="which flow owns each target (recorded at its first promote)",
        description="List target owners in a state database; release a target so another flow may take it over.",
    )  # fmt: skip
    owned_actions = owned.add_subparsers(dest="action", required=True, metavar="ACTION")
    owned_actions.add_parser("list", help="every target and its owner").add_argument(
        "--conn", required=True, help="the state connection id (the flow's state_conn_id)"
    )
    releasing = owned_actions.add_parser(
        "release", help="forget a target's owner (the next flow to promote owns it)"
    )
    releasing.add_argument("--conn", required=True, help="the state connection id (the flow's state_conn_id)")
    releasing.add_argument("--owner", required=True, help="the flow that owns it now (a safety check)")
    releasing.add_argument(
        "target", metavar="TARGET", help="as the refusal names it, e.g. table:analytics.orders"
    )
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one command; ``out`` / ``err`` default to the process's streams."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    # Airflow, imported with the first connection, logs to stdout: stdout is the command's
    # output (``--json`` must parse), so anything else printed meanwhile goes to stderr.
    with contextlib.redirect_stdout(err):
        try:
            if args.command == "cdc":
                command = cdc.setup_command if args.action == "setup" else cdc.drop_command
                command(args.flow_id, out=out)
            elif args.command == "notify-sql":
                notify.notify_command(args.flow, out=out)
            elif args.command == "state":
                state_command = state.migrate_command if args.action == "migrate" else state.version_command
                state_command(args.conn_ids, out=out, err=err)
            elif args.command == "targets" and args.action == "list":
                targets.list_command(args.conn, out=out)
            elif args.command == "targets":
                targets.release_command(args.conn, args.target, args.owner, out=out)
            elif args.action == "list":
                conflicts.list_command(
                    flow=args.flow, status=args.status, limit=args.limit, as_json=args.json, out=out
                )
            else:
                by = args.by or _os_user()
                conflicts.resolve_command(args.conflict_id, side=args.side, by=by, flow=args.flow, out=out)
        except CliError as exc:
            err.write(f"error: {exc}\n")
            return EXIT_UNAVAILABLE if exc.unavailable else EXIT_REFUSED
    return EXIT_OK


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return "cli"
