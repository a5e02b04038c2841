"""Read a flow's pending changes from its slot and reduce them to the net effect per key.

The log decides WHICH keys changed and in what order; the rows themselves are read from the
table afterwards (``connectors.postgres.wal_source``). Per key the last operation wins, in
commit order; an update that changes the key is a delete of the old key and an upsert of the
new one; a TRUNCATE forgets every earlier change and asks for the table's whole key set.

Positions: a batch covers every transaction whose commit record starts before its ``position``
(the slot's own rule once it is confirmed there), so a transaction at or past it is still to
come and one before it is skipped when a crash left the slot behind the watermark.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from syncgate.connectors.postgres.cdc import pgoutput
from syncgate.connectors.postgres.cdc.lsn import to_int
from syncgate.connectors.postgres.cdc.slot import with_slot
from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError

if TYPE_CHECKING:
    import psycopg

Key = tuple[str | None, ...]
Op = Literal["upsert", "delete"]

# Changes read per run at most (the slot functions stop at the first commit past it): a huge
# backlog is taken in several runs, each a bounded batch.
MAX_CHANGES = 100_000

PEEK = (
    "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, %s::pg_lsn, %s, "
    "'proto_version', '1', 'publication_names', %s)"
)


@dataclass
class ChangeSet:
    """The net effect of the changes one batch covers."""

    ops: OrderedDict[Key, Op] = field(default_factory=OrderedDict)  # in commit order of the last op
    truncated: bool = False  # a TRUNCATE: the table's whole key set decides what else is gone
    position: str | None = None  # the batch covers every commit before it (None: nothing read)
    changes: int = 0  # row changes decoded for the table (skipped ones excluded)
    transactions: int = 0
    skipped: int = 0  # transactions at or below the watermark (a crash left the slot behind)
    complete: bool = True  # False: stopped at MAX_CHANGES, more are waiting
    xids: list[int] = field(default_factory=list)  # transactions applied (a snapshot must see them)

    @property
    def upserts(self) -> list[Key]:
        return [k for k, op in self.ops.items() if op == "upsert"]

    @property
    def deletes(self) -> list[Key]:
        return [k for k, op in self.ops.items() if op == "delete"]


def read_changes(
    conn: psycopg.Connection[Any],
    slot: str,
    publication: str,
    table: TableRef,
    key: list[str],
    after: str | None,
    limit: int = MAX_CHANGES,
) -> ChangeSet:
    """Peek at the slot (never consuming) up to ``limit`` messages; ``after`` is the watermark.

    ``conn`` is in autocommit mode. The flush position is taken first and decoding stops there,
    so when the peek is not cut short by ``limit`` the batch covers everything before it, even
    a stretch of WAL with no change to this table (the slot then moves past it).
    """
    upto = conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
    assert upto is not None
    rows = with_slot(lambda: conn.execute(PEEK, (slot, upto[0], limit, publication)).fetchall())
    result = _reduce((bytes(r[0]) for r in rows), table, key, after)
    result.complete = len(rows) < limit
    if result.complete and (result.position is None or to_int(upto[0]) > to_int(result.position)):
        result.position = upto[0]
    if after is not None and result.position is not None and to_int(result.position) < to_int(after):
        result.position = after  # never behind the watermark
    return result


def _reduce(messages: Any, table: TableRef, key: list[str], after: str | None) -> ChangeSet:
    result = ChangeSet()
    relations: dict[int, pgoutput.Relation] = {}
    pending: list[tuple[Op, Key]] = []
    xid = 0
    floor = to_int(after) if after else None
    for data in messages:
        message = pgoutput.decode(data)
        if isinstance(message, pgoutput.Relation):
            relations[message.relation_id] = message
        elif isinstance(message, pgoutput.Begin):
            pending, xid = [], message.xid
        elif isinstance(message, (pgoutput.Insert, pgoutput.Update, pgoutput.Delete)):
            relation = relations.get(message.relation_id)
            if relation is None:
                raise FatalError(
                    f"the change log sent a row of relation {message.relation_id} before describing it"
                )
            if (relation.schema, relation.name) == (table.schema, table.name):
                pending.extend(_row_ops(message, relation, key))
        elif isinstance(message, pgoutput.Truncate):
            names = {(relations[r].schema, relations[r].name) for r in message.relation_ids if r in relations}
            if (table.schema, table.name) in names:
                pending.append(("delete", ()))  # marker: everything before it is gone
        elif isinstance(message, pgoutput.Commit):
            if floor is not None and to_int(message.commit_lsn) < floor:
                result.skipped += 1
            elif pending:
                result.transactions += 1
                result.xids.append(xid)
                _apply(result, pending)
            result.position = message.end_lsn
            pending = []
    return result


def _apply(result: ChangeSet, ops: list[tuple[Op, Key]]) -> None:
    for op, row_key in ops:
        if row_key == ():  # a TRUNCATE: the changes before it no longer matter
            result.ops.clear()
            result.truncated = True
            continue
        result.changes += 1
        result.ops.pop(row_key, None)  # re-inserted: the order is that of each key's last change
        result.ops[row_key] = op


def _row_ops(message: Any, relation: pgoutput.Relation, key: list[str]) -> list[tuple[Op, Key]]:
    positions = _key_positions(relation, key)
    if isinstance(message, pgoutput.Insert):
        return [("upsert", _key_of(message.new, positions, relation))]
    if isinstance(message, pgoutput.Delete):
        return [("delete", _key_of(message.old, positions, relation))]
    new = message.new
    if message.old is not None:
        old_key = _key_of(message.old, positions, relation)
        new = tuple(o if n is pgoutput.UNCHANGED else n for n, o in zip(new, message.old, strict=True))
        new_key = _key_of(new, positions, relation)
        if old_key != new_key:
            return [("delete", old_key), ("upsert", new_key)]
        return [("upsert", new_key)]
    return [("upsert", _key_of(new, positions, relation))]


def _key_positions(relation: pgoutput.Relation, key: list[str]) -> list[int]:
    names = [c.name for c in relation.columns]
    missing = [c for c in key if c not in names]
    if missing:
        raise FatalError(
            f"source table {relation.schema}.{relation.name} has no key column(s) {', '.join(missing)}"
        )
    return [names.index(c) for c in key]


def _key_of(values: tuple[pgoutput.Value, ...], positions: list[int], relation: pgoutput.Relation) -> Key:
    found = tuple(values[i] for i in positions)
    if any(v is pgoutput.UNCHANGED for v in found):
        raise FatalError(
            f"the change log of {relation.schema}.{relation.name} left a key value out (an unchanged "
            "TOASTed key): set `REPLICA IDENTITY FULL` on the table"
        )
    return tuple(v for v in found if not isinstance(v, pgoutput._Unchanged))
