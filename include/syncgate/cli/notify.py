"""``python -m syncgate notify-sql <flow id>``: the SQL that makes a source table NOTIFY the flow.

A statement-level trigger on the flow's source table calls ``pg_notify(<channel>, '')`` after
every INSERT, UPDATE, DELETE or TRUNCATE. Statement level and an empty payload keep a bulk
change to one notification (PostgreSQL folds equal notifications of one transaction): the
flow's trigger only needs to know *that* something changed, extract reads *what*.

The script is idempotent (``CREATE OR REPLACE FUNCTION``, ``DROP TRIGGER IF EXISTS`` in one
transaction, so no change slips between the drop and the create) and quotes every identifier.
It is printed, not run: installing a trigger on a source is its owner's decision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from syncgate import settings
from syncgate.cli.flows import CliError
from syncgate.db.identifiers import TableRef
from syncgate.spec.loader import load_specs
from syncgate.spec.triggers import PostgresNotifyTrigger, notify_connection, notify_source


def notify_command(flow: str, *, out: TextIO, folder: Path | None = None) -> None:
    """Print the notify SQL of ``flow``.

    Raises:
        CliError: no such flow, no ``postgres_notify`` trigger, or no PostgreSQL table to put it on.
    """
    folder = folder or settings.flows_dir()
    loaded = load_specs(folder)
    found = [item.spec for item in loaded if item.spec is not None and item.spec.id == flow]
    if not found:
        broken = [i.path.name for i in loaded if i.spec is None]
        hint = f" ({len(broken)} spec file(s) failed to load: {', '.join(broken)})" if broken else ""
        raise CliError(f"no flow {flow!r} in {folder}{hint}")
    out.write(notify_sql(found[0]))


def notify_sql(spec: Any) -> str:
    """The SQL installing the flow's notifying trigger (a flow with a ``postgres_notify`` trigger)."""
    from psycopg import sql

    trigger = next((t for t in spec.triggers if isinstance(t, PostgresNotifyTrigger)), None)
    if trigger is None:
        raise CliError(
            f"flow {spec.id!r} has no postgres_notify trigger: add "
            "`triggers: [{type: postgres_notify, channel: <name>}]` to its spec first"
        )
    source = notify_source(spec, trigger)
    if source is None or getattr(source, "table", None) is None:
        what = "a query" if source is not None else "not a PostgreSQL table"
        raise CliError(
            f"flow {spec.id!r}: the source is {what}, so there is no table to install the trigger on; "
            f"make the tables it reads call pg_notify('{trigger.channel}', '') yourself"
        )
    table = TableRef.parse(source.table)
    name = f"syncgate_notify_{spec.id}"  # at most 56 bytes: flow ids are at most 40
    function = sql.Identifier(table.schema, name)
    target = table.sql
    script = sql.SQL(
        "BEGIN;\n"
        "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $syncgate$\n"
        "BEGIN\n"
        "  PERFORM pg_notify({channel}, '');\n"
        "  RETURN NULL;\n"
        "END\n"
        "$syncgate$;\n"
        "DROP TRIGGER IF EXISTS {trigger} ON {table};\n"
        "CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}\n"
        "  FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
        "COMMIT;\n"
    ).format(
        function=function, channel=sql.Literal(trigger.channel), trigger=sql.Identifier(name), table=target
    )
    header = (
        f"-- Flow {spec.id}: NOTIFY channel {trigger.channel} after every change of {table}.\n"
        f"-- Run it in the database of connection {notify_connection(spec, trigger)!r} (the flow LISTENs there);\n"
        "-- running it again replaces the function and trigger. To remove:\n"
        f"--   {sql.SQL('DROP TRIGGER IF EXISTS {} ON {};').format(sql.Identifier(name), target).as_string()}\n"
        f"--   {sql.SQL('DROP FUNCTION IF EXISTS {}();').format(function).as_string()}\n"
    )
    listen = notify_connection(spec, trigger)
    if listen != source.conn_id:
        # NOTIFY reaches only sessions of the database it was sent in.
        header += (
            f"-- WARNING: the flow LISTENs on connection {listen!r} but reads {table} through {source.conn_id!r}:\n"
            "-- a notification reaches the flow only if both connections open the same database.\n"
        )
    return header + script.as_string()
