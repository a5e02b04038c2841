"""Resumable extraction: completed pages land as Parquet parts plus a checkpoint.

Layout in the landing area, under the flow's folder:

- ``_resume/<run key>.json`` points a run at its in-progress batch;
- ``<batch>/part-00001.parquet`` ... one per flush of completed pages (hashed columns already
  hashed), ``<batch>/rejects-00001.json`` the records of those pages that could not be coerced;
- ``<batch>/checkpoint.json``: the next page request, counters and schema state as of the last
  landed page, written after the part's files, so it never points past what is landed.

Completed pages are gathered in memory and flushed as one part once they hold
``settings.batch_bytes()`` (a Parquet file per page of a thousand records costs more than the
page's shaping), when the extraction ends, and when it fails (``flush`` from the caller's error
path). A retry of the same Airflow run finds the pointer and continues with the page after the
last landed one: after a failure the extract saw, the next page; after a hard crash (a killed
process), at most one part's worth of pages is read again. A new run (another run id), a
changed window or a changed source spec starts from page one. A finished extraction removes its
pointer, so a cleared-and-rerun task extracts afresh.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from syncgate import landing, settings

if TYPE_CHECKING:
    import pyarrow as pa
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)


class Checkpoint:
    """Landed pages and progress of one run's HTTP extraction."""

    def __init__(
        self,
        pointer: ObjectStoragePath,
        directory: ObjectStoragePath,
        state: dict[str, Any],
        flush_bytes: int | None = None,
    ) -> None:
        self.pointer = pointer
        self.directory = directory
        self.state = state
        # Parts before the first flush are per page in checkpoints of earlier versions.
        state.setdefault("parts", int(state.get("pages", 0)))
        self.flush_bytes = settings.batch_bytes() if flush_bytes is None else flush_bytes
        self._tables: list[pa.Table] = []  # completed pages not landed yet
        self._rejects: list[dict[str, Any]] = []
        self._bytes = 0
        self._completed: str | None = None  # the state after the last completed page, as JSON

    @property
    def batch_id(self) -> str:
        return str(self.state["batch_id"])

    @property
    def resumed(self) -> bool:
        return int(self.state["pages"]) > 0

    @classmethod
    def open(cls, flow_id: str, run_key: str, identity: dict[str, Any]) -> Checkpoint:
        """Resume this run's interrupted extraction, or start a new batch."""
        root = landing.root() / flow_id
        pointer = root / "_resume" / f"{run_key}.json"
        if pointer.exists():
            try:
                batch_id = json.loads(pointer.read_text())["batch_id"]
                directory = root / batch_id
                state = json.loads((directory / "checkpoint.json").read_text())
                if state.get("identity") == identity:
                    log.info(
                        "Resuming batch %s of flow %s after %d landed page(s)",
                        batch_id,
                        flow_id,
                        state["pages"],
                    )
                    return cls(pointer, directory, state)
                log.info("Checkpoint of batch %s is for another window or spec: starting afresh", batch_id)
                landing.remove_batch(flow_id, batch_id)  # never staged: nothing else refers to it
            except (OSError, ValueError, KeyError):
                log.warning("Unreadable checkpoint for flow %s: starting afresh", flow_id)
        batch_id = uuid.uuid4().hex
        directory = landing.batch_dir(flow_id, batch_id)
        landing.make_private_dir(pointer.parent, root.parent)
        checkpoint = cls(pointer, directory, {"identity": identity, "batch_id": batch_id, "pages": 0})
        checkpoint._write()
        landing.write_text(pointer, json.dumps({"batch_id": batch_id}))
        return checkpoint

    def save_page(self, table: pa.Table | None, rejects: list[dict[str, Any]], **state: Any) -> None:
        """Complete one page; it lands with the next flush (at ``flush_bytes`` of pending pages)."""
        if table is not None and table.num_rows:
            self._tables.append(table)
            self._bytes += table.nbytes
        self._rejects.extend(rejects)
        self.state.update(state)
        self.state["pages"] = int(self.state["pages"]) + 1
        # The caller's state dicts move on with the next page: keep this page's as it is now.
        self._completed = json.dumps(self.state, default=str)
        if self._bytes >= self.flush_bytes:
            self.flush()

    def flush(self) -> None:
        """Land the completed pages not landed yet as a part, then move the checkpoint past them."""
        if self._completed is None:
            return
        state = json.loads(self._completed)
        parts = int(self.state["parts"])
        # A part is one Parquet schema: pages whose columns changed (drift) start another part.
        groups: list[list[pa.Table]] = []
        for table in self._tables:
            if groups and groups[-1][0].schema.equals(table.schema):
                groups[-1].append(table)
            else:
                groups.append([table])
        for i, group in enumerate(groups):
            landing.write_table(self.directory / f"part-{parts + i + 1:05d}.parquet", _concat(group))
        rejected = self.directory / f"rejects-{parts + 1:05d}.json"
        if self._rejects:
            landing.write_text(rejected, json.dumps(self._rejects, default=str))
        elif rejected.exists():
            # Left by a flush that crashed before its checkpoint: its pages were fetched again
            # since, and what they reject now is what counts.
            rejected.unlink()
        state["parts"] = self.state["parts"] = parts + max(len(groups), 1 if self._rejects else 0)
        self._tables, self._rejects, self._bytes, self._completed = [], [], 0, None
        landing.write_text(self.directory / "checkpoint.json", json.dumps(state, default=str))

    def parts(self) -> list[ObjectStoragePath]:
        """The landed parts, in page order (``flush`` first)."""
        self.flush()
        found = [self.directory / f"part-{n:05d}.parquet" for n in range(1, int(self.state["parts"]) + 1)]
        return [p for p in found if p.exists()]

    def rejects(self) -> list[dict[str, Any]]:
        self.flush()
        found: list[dict[str, Any]] = []
        for n in range(1, int(self.state["parts"]) + 1):
            path = self.directory / f"rejects-{n:05d}.json"
            if path.exists():
                found.extend(json.loads(path.read_text()))
        return found

    def combine(
        self, schema: pa.Schema, drop: dict[int, list[int]] | None = None
    ) -> tuple[ObjectStoragePath, int, int]:
        """Write every part into ``data.parquet`` with the batch's final schema (new columns null).

        ``drop``: part index -> row positions to leave out (older versions of a record).
        """
        import pyarrow as pa

        out = self.directory / "data.parquet"
        pending: list[pa.Table] = []
        pending_bytes, limit = 0, settings.batch_bytes()
        with landing.ParquetSink(out, schema) as sink:
            for index, part in enumerate(self.parts()):
                for table in _without(landing.read_batches(str(part)), (drop or {}).get(index)):
                    present = set(table.column_names)
                    arrays = [
                        table[f.name] if f.name in present else pa.nulls(table.num_rows, f.type)
                        for f in schema
                    ]
                    # from_arrays casts to the final schema: a column widened after earlier pages
                    # landed (integer -> number) joins them here.
                    pending.append(pa.Table.from_arrays(arrays, schema=schema))
                    # Pages are small: gather them into row groups of the usual size for load
                    # (a running total: summing every pending table's nbytes per page is quadratic).
                    pending_bytes += pending[-1].nbytes
                    if pending_bytes >= limit:
                        sink.write(pa.concat_tables(pending))
                        pending, pending_bytes = [], 0
            if pending:
                sink.write(pa.concat_tables(pending))
            size = sink.close()
        return out, sink.rows, size

    def finish(self) -> None:
        """The extraction completed: a rerun of this run must not resume it."""
        if self.pointer.exists():
            self.pointer.unlink()

    def _write(self) -> None:
        landing.write_text(self.directory / "checkpoint.json", json.dumps(self.state, default=str))


def _concat(tables: list[pa.Table]) -> pa.Table:
    import pyarrow as pa

    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _without(tables: Any, rows: list[int] | None) -> Any:
    """The row groups of one part, less the rows at the given positions of the part."""
    if not rows:
        yield from tables
        return
    import pyarrow as pa
    import pyarrow.compute as pc

    from syncgate.arrow_values import from_list

    dropped = from_list(sorted(rows), pa.int64())
    offset = 0
    for table in tables:
        positions = from_list(list(range(offset, offset + table.num_rows)), pa.int64())
        offset += table.num_rows
        yield table.filter(pc.invert(pc.is_in(positions, value_set=dropped)))
