"""Which flow owns a target: the first flow to promote into it, recorded in ``syncgate.target_owners``.

A target never changes owner by itself. Without this, a copied spec (another id, the same
``target``) or a renamed flow would write a table another flow keeps - with ``write: replace``,
deleting its rows - and both would report success. The claim is taken under the promote's
lock, in the promote's transaction on the state database, so of two flows promoting into the
same target for the first time at once exactly one becomes the owner; every later promote of
another flow is refused until an operator releases the target
(``python -m syncgate targets release``, ``cli/targets.py``).

A target is named by what it is, not by how a spec reaches it: a table in the state database
itself (every one-way PostgreSQL target) is ``table:<schema>.<name>``, whichever connection id
points there; any other target (an API, a sync side in another database) by its type,
connection id and resource (``http:crm_api:/v1/customers``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError

if TYPE_CHECKING:
    import psycopg

    from syncgate.spec.model import FlowSpec


SLICE = "#"  # joins a target and the slice a flow declares: table:crm.customers#partners


class TargetOwnedError(FatalError):
    """Another flow owns the target: a retry is refused the same way until the target is released."""


def target_key(flow: FlowSpec, state_conn_id: str) -> str:
    """The target's identity in the state database ``state_conn_id``.

    Built from the spec alone (this module sits below the connectors): a table in that very
    database is ``table:<schema>.<name>``; anything else is ``<type>:<conn_id>:<resource>`` (an
    API's endpoint, a table in another database, or the target's settings for other connectors).
    """
    target = flow.target
    part = f"{SLICE}{target.slice}" if target.slice else ""
    return _whole_key(flow, state_conn_id) + part


def _whole_key(flow: FlowSpec, state_conn_id: str) -> str:
    target = flow.target
    table = getattr(target, "table", None)
    if table and target.holds_state and target.state_connection() == state_conn_id:
        ref = TableRef.parse(str(table))
        return f"table:{ref.schema}.{ref.name}"
    if table:
        ref = TableRef.parse(str(table))
        return f"{target.type}:{target.conn_id}:{ref.schema}.{ref.name}"
    endpoint = getattr(target, "endpoint", None)
    if endpoint:
        return f"{target.type}:{target.conn_id}:{endpoint}"
    resource = target.model_dump(mode="json", exclude={"type", "conn_id", "write", "state_conn_id", "slice"})
    return f"{target.type}:{target.conn_id}:{json.dumps(resource, sort_keys=True)}"


def claim(conn: psycopg.Connection[Any], flow: FlowSpec, state_conn_id: str, owner: str | None = None) -> str:
    """Record ``owner`` (default: the flow's id) as the target's owner, or refuse another owner.

    Call inside the promote's transaction, before anything is written. Returns the target key.

    Raises:
        TargetOwnedError: the target belongs to another flow.
    """
    owner = owner or flow.id
    key = target_key(flow, state_conn_id)
    whole = _whole_key(flow, state_conn_id)
    # Claims of one target serialise here, so a whole claim and a slice claim cannot both pass.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('syncgate.target:' || %s))", (whole,))
    # A slice clashes with another owner of the same slice or of the whole target; the whole
    # target clashes with any other owner of it or of a slice of it.
    clash = conn.execute(
        """
        SELECT target, flow_id, claimed_at FROM syncgate.target_owners
        WHERE flow_id <> %(owner)s
          AND (target = %(key)s OR target = %(whole)s
               OR (%(key)s = %(whole)s AND starts_with(target, %(whole)s || %(slice)s)))
        ORDER BY claimed_at LIMIT 1
        """,
        {"owner": owner, "key": key, "whole": whole, "slice": SLICE},
    ).fetchone()
    if clash is not None:
        held, holder, since = clash
        raise TargetOwnedError(
            f"flow {owner!r} may not write {key}: {held} belongs to flow {holder!r} (its first "
            f"promote, {since:%Y-%m-%d %H:%M} UTC); nothing was written. If {owner!r} is to take it "
            f"over (a renamed or replacing flow), release it first: python -m syncgate targets release "
            f"--conn {state_conn_id} --owner {holder} '{held}'; if both flows write their own records "
            "of it, give each a different `slice` in its target"
        )
    if key != whole:  # a flow that owned the whole target and now writes a slice gives the rest up
        conn.execute("DELETE FROM syncgate.target_owners WHERE target = %s AND flow_id = %s", (whole, owner))
    conn.execute(
        "INSERT INTO syncgate.target_owners (target, flow_id) VALUES (%s, %s) ON CONFLICT (target) DO NOTHING",
        (key, owner),
    )
    return key


def owners(conn: psycopg.Connection[Any]) -> list[tuple[str, str, Any]]:
    """Every recorded (target, owner flow, claimed at), by target."""
    found = conn.execute("SELECT to_regclass('syncgate.target_owners') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return []
    return [
        (str(t), str(f), c)
        for t, f, c in conn.execute(
            "SELECT target, flow_id, claimed_at FROM syncgate.target_owners ORDER BY target"
        ).fetchall()
    ]


def release(conn: psycopg.Connection[Any], key: str, owner: str) -> bool:
    """Forget that ``owner`` owns ``key``; True when it did (the next flow to promote claims it)."""
    found = conn.execute(
        "DELETE FROM syncgate.target_owners WHERE target = %s AND flow_id = %s", (key, owner)
    ).rowcount
    return bool(found)
