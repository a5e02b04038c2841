"""First loads: the verified staging table becomes the target (see ``promote._adopt_staging``).

Staging is normally UNLOGGED (no WAL while loading a batch that is merged and dropped). A batch
that promote will adopt as the new target would then be rewritten by ``SET LOGGED`` (~400 MB
for 2M rows); staging it LOGGED from the start writes the WAL once, during the parallel COPY,
and leaves promote a rename and the primary key build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncgate.db.catalog import relation_exists

if TYPE_CHECKING:
    import psycopg

    from syncgate.batch.contract import Batch
    from syncgate.db.identifiers import TableRef


def will_adopt(conn: psycopg.Connection[Any], target: TableRef, batch: Batch) -> bool:
    """True when promote will adopt this batch's staging table as the (missing) target.

    Promote re-checks under its lock: if the target appears meanwhile, it merges from the
    (then logged) staging table as usual, only without the adoption shortcut.
    """
    if batch.window.lower is not None:
        return False
    return not relation_exists(conn, target)
