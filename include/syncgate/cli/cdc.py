"""``cdc setup`` and ``cdc drop``: a wal flow's replication slot and publication from a terminal.

``setup`` is idempotent (run it again after changing the flow's table: the publication follows);
``drop`` removes what exists and says what it removed. Dropping a slot lets the source's
server free the WAL it held; the flow then needs ``setup`` and a full reload (docs/wal-capture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

from syncgate import settings
from syncgate.cli.flows import CliError
from syncgate.errors import FatalError
from syncgate.spec.loader import load_specs
from syncgate.spec.model import FlowSpec

T = TypeVar("T")


def one_way_flow(flow: str, folder: Path | None = None) -> FlowSpec:
    """The one-way flow ``flow`` of the flows folder, or a ``CliError`` saying why not."""
    folder = folder or settings.flows_dir()
    loaded = load_specs(folder)
    for item in loaded:
        if item.spec is not None and item.spec.id == flow:
            if not isinstance(item.spec, FlowSpec):
                raise CliError(f"flow {flow!r} is a sync flow: log-based capture is for one-way flows")
            return item.spec
    broken = [i.path.name for i in loaded if i.spec is None]
    hint = f" ({len(broken)} spec file(s) failed to load: {', '.join(broken)})" if broken else ""
    raise CliError(f"no flow {flow!r} in {folder}{hint}")


def setup_command(flow: str, *, out: TextIO) -> None:
    from syncgate.connectors.postgres.cdc.flow import setup_flow
    from syncgate.connectors.postgres.cdc.names import publication_name, slot_name

    spec = one_way_flow(flow)
    result = _run(lambda: setup_flow(spec))
    pub, slot = publication_name(spec.id), slot_name(spec.id)
    out.write(f"publication {pub}: {'created' if result.publication_created else 'exists'}\n")
    if result.slot_created:
        out.write(f"replication slot {slot}: created at {result.slot_lsn}\n")
    else:
        out.write(f"replication slot {slot}: exists\n")


def drop_command(flow: str, *, out: TextIO) -> None:
    from syncgate.connectors.postgres.cdc.flow import drop_flow

    spec = one_way_flow(flow)
    dropped = _run(lambda: drop_flow(spec))
    if not dropped:
        out.write(f"flow {flow}: no replication slot or publication to drop\n")
    for what in dropped:
        out.write(f"dropped {what}\n")


def _run(action: Callable[[], T]) -> T:
    """Run ``action``, turning its failures into ``CliError`` (never echoing a DETAIL line)."""
    import psycopg

    try:
        return action()
    except CliError:
        raise
    except FatalError as exc:
        raise CliError(str(exc)) from None
    except psycopg.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""  # DETAIL may quote values: left out
        raise CliError(f"source database: {type(exc).__name__}: {first}", unavailable=True) from None
