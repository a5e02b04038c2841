"""The sync flows the command line works on, and their state databases.

Specs come from ``SYNCGATE_FLOWS_DIR`` (``settings.flows_dir()``); each flow's conflict log is
in its ``state_conn_id`` database, opened through ``syncgate.db.connect``. Error messages name
connection ids, never hosts' credentials.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncgate import settings
from syncgate.errors import FatalError
from syncgate.spec.loader import load_specs
from syncgate.spec.sync_model import SyncSpec

if TYPE_CHECKING:
    import psycopg


class CliError(FatalError):
    """A command that cannot be carried out; ``unavailable``: a database could not be used."""

    def __init__(self, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.unavailable = unavailable


def sync_flows(folder: Path | None = None, flow: str | None = None) -> list[SyncSpec]:
    """The valid sync specs of ``folder`` (sorted by id), or just ``flow``'s.

    Raises:
        CliError: ``flow`` is not a valid sync flow of the folder.
    """
    folder = folder or settings.flows_dir()
    loaded = load_specs(folder)
    specs = sorted((i.spec for i in loaded if isinstance(i.spec, SyncSpec)), key=lambda s: s.id)
    if flow is None:
        return specs
    found = [s for s in specs if s.id == flow]
    if found:
        return found
    if any(i.spec is not None and i.spec.id == flow for i in loaded):
        raise CliError(f"flow {flow!r} is a one-way flow: it has no conflict log")
    broken = [i.path.name for i in loaded if i.spec is None]
    hint = f" ({len(broken)} spec file(s) failed to load: {', '.join(broken)})" if broken else ""
    raise CliError(f"no sync flow {flow!r} in {folder}{hint}")


def by_state_database(specs: list[SyncSpec]) -> dict[str, list[SyncSpec]]:
    """The specs grouped by the connection holding their state, in connection id order."""
    groups: dict[str, list[SyncSpec]] = defaultdict(list)
    for spec in specs:
        groups[str(spec.state_conn_id)].append(spec)
    return dict(sorted(groups.items()))


@contextmanager
def state_database(conn_id: str) -> Iterator[psycopg.Connection[Any] | None]:
    """A connection to ``conn_id``, None when it holds no conflict log yet (no sync flow ran there).

    Any failure to open or use it becomes an unavailable ``CliError``.
    """
    import psycopg

    from syncgate.db.connect import connect

    try:
        conn = connect(conn_id)
    except Exception as exc:  # unknown conn id, unreachable host, bad extra: never echo its parameters
        raise CliError(
            f"cannot open state connection {conn_id!r} ({type(exc).__name__})", unavailable=True
        ) from None
    try:
        with conn:
            row = conn.execute("SELECT to_regclass('syncgate.sync_conflicts') IS NOT NULL").fetchone()
            conn.commit()
            yield conn if row and row[0] else None
    except psycopg.Error as exc:
        # The first line names the problem; a DETAIL line may quote values: left out.
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise CliError(
            f"state database {conn_id!r}: {type(exc).__name__}: {first}", unavailable=True
        ) from None
    finally:
        conn.close()
