"""First loads: the verified staging table becomes the target (see ``promote._adopt_staging``).

Staging is normally UNLOGGED (no WAL while loading a batch that is merged and dropped). A batch
that promote will adopt as the new target would then be rewritten by ``SET LOGGED`` (~400 MB
for 2M rows); staging it LOGGED from the start writes the WAL once, during the parallel COPY,
and leaves promote a rename and the primary key build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncgate.db.catalog import relation_exists
from syncgate.db.identifiers import TableRef
from syncgate.spec.model import FlowSpec, PostgresTarget

if TYPE_CHECKING:
    import psycopg


def will_adopt(conn: psycopg.Connection[Any], spec: FlowSpec, manifest: dict[str, Any]) -> bool:
    """True when promote will adopt this batch's staging table as the (missing) target.

    Promote re-checks under its lock: if the target appears meanwhile, it merges from the
    (then logged) staging table as usual, only without the adoption shortcut.
    """
    if not isinstance(spec.target, PostgresTarget) or manifest["window"]["from"] is not None:
        return False
    return not relation_exists(conn, TableRef.parse(spec.target.table))
