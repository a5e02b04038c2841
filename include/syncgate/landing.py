"""The landing area: compressed Parquet batches addressed through ``ObjectStoragePath``.

Local folder by default, any fsspec store (``s3://``, ``gs://`` ...) by ``SYNCGATE_LANDING_URL``,
so that each task may run on a different worker (S3 without the Amazon provider: object_store.py).

Landed files are copies of source data: in a local landing area they are created readable by
their owner only (files 0600, folders 0700), whatever the process's umask. An object store's
access is its own bucket policy's business.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncgate import settings

if TYPE_CHECKING:
    import pyarrow as pa
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

COMPRESSION = "zstd"
# No dictionary pages: most landed columns are high-cardinality (keys, names, JSON, timestamps
# as text), where Arrow builds a dictionary, outgrows it and falls back anyway. zstd still
# squeezes repeated values: the 2M-row bench batch writes in 1.6 s instead of 2.3-2.9 s and
# lands 87 MB instead of 105 MB.
WRITE_OPTIONS: dict[str, object] = {"compression": COMPRESSION, "use_dictionary": False}


PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
RESUME_DIR = "_resume"  # HTTP extraction checkpoints (connectors/http/checkpoint.py)


def root() -> ObjectStoragePath:
    """The landing area's root folder (``SYNCGATE_LANDING_URL``)."""
    return as_path(settings.landing_url())


def batch_dir(flow_id: str, batch_id: str) -> ObjectStoragePath:
    top = root()
    path = top / flow_id / batch_id
    make_private_dir(path, top)
    return path


def make_private_dir(path: ObjectStoragePath, root: ObjectStoragePath | None = None) -> None:
    """``mkdir -p path``; locally, ``path`` and its parents below ``root`` (and root) get 0700."""
    path.mkdir(parents=True, exist_ok=True)
    local = local_path(path)
    if local is None:
        return
    top = local_path(root) if root is not None else local
    for folder in (local, *local.parents):
        # mkdir's mode is cut by the umask, chmod's is not; a folder of another user (a shared
        # landing root) is that user's to set.
        if folder.stat().st_uid == os.getuid():
            folder.chmod(PRIVATE_DIR)
        if top is None or folder == top:
            break


def open_private(path: ObjectStoragePath, mode: str = "wb") -> Any:
    """Open ``path`` for writing; a local file is created 0600 (never readable by others, not
    even for a moment) and an existing one made so."""
    local = local_path(path)
    if local is None:
        return path.open(mode)
    fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    return os.fdopen(fd, mode)


def write_text(path: ObjectStoragePath, text: str) -> None:
    """Write a small text file of a landed batch (JSON state, pointers) privately."""
    with open_private(path, "w") as handle:
        handle.write(text)


def as_path(url: str) -> ObjectStoragePath:
    """``url`` (the landing root or a file in it) as a path whose store can be reached."""
    from airflow.sdk import ObjectStoragePath

    from syncgate import object_store

    path = ObjectStoragePath(url)
    object_store.ensure(path)
    return path


class ParquetSink:
    """Writes record batches as row groups of one Parquet file; counts rows and bytes."""

    def __init__(self, path: ObjectStoragePath, schema: pa.Schema) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self.rows = 0
        self._file = open_private(path)
        self._writer = pq.ParquetWriter(self._file, schema, **WRITE_OPTIONS)

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> int:
        """Close the file; returns its size in bytes."""
        self._writer.close()
        self._file.close()
        return int(self.path.stat().st_size)

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._file.closed:
            self.close()


def local_path(path: ObjectStoragePath) -> Path | None:
    """The local file behind ``path`` when the landing area is a local folder, else None."""
    if path.protocol in ("", "file", "local"):
        return Path(path.path)
    return None


def write_table(path: ObjectStoragePath, table: pa.Table) -> None:
    """Write a non-empty table as one Parquet file, as ``ParquetSink`` would.

    A local landing area is written by pyarrow directly: opening the file through
    ``ObjectStoragePath`` costs more than writing a page of records.
    """
    local = local_path(path)
    if local is None:
        with ParquetSink(path, table.schema) as sink:
            sink.write(table)
        return
    import pyarrow.parquet as pq

    with open_private(path) as handle:
        pq.write_table(table, handle, **WRITE_OPTIONS)


def read_batches(url: str, groups: Iterable[int] | None = None, columns: list[str] | None = None) -> Any:
    """Iterate the row groups of a landed file (all, or the given ones) as Arrow tables
    (every column, or the given ones)."""
    import pyarrow.parquet as pq

    with as_path(url).open("rb") as handle:
        parquet = pq.ParquetFile(handle)
        for i in range(parquet.num_row_groups) if groups is None else groups:
            yield parquet.read_row_group(i, columns=columns)


def row_groups(url: str) -> int:
    import pyarrow.parquet as pq

    with as_path(url).open("rb") as handle:
        return int(pq.ParquetFile(handle).num_row_groups)


def remove_batch(flow_id: str, batch_id: str) -> None:
    """Delete a promoted batch's files; the data now lives in the target."""
    path = root() / flow_id / batch_id
    if path.exists():
        path.rmdir(recursive=True)


def remove_batches(flow_id: str, batch_ids: Iterable[str]) -> None:
    """Remove the given batches of the flow; a failure is logged (the next run tries again)."""
    for batch_id in batch_ids:
        forget_batch(flow_id, batch_id)


def remove_batches_except(flow_id: str, keep: set[str], keep_resume_for: str) -> list[str]:
    """Remove every landed batch of the flow but ``keep``, and every HTTP resume pointer but the
    run ``keep_resume_for``'s (a run key) and its batch; returns the batch ids removed.

    Only when no other run of the flow may be landing a batch it has not named yet.
    """
    folder = root() / flow_id
    if not folder.exists():
        return []
    keep = set(keep)
    resume = folder / RESUME_DIR
    if resume.exists():
        for pointer in list(resume.iterdir()):
            if pointer.name == f"{keep_resume_for}.json":
                try:
                    keep.add(str(json.loads(pointer.read_text())["batch_id"]))
                except (OSError, ValueError, KeyError, TypeError):
                    log.warning("Unreadable resume pointer %s of flow %s", pointer.name, flow_id)
                continue
            pointer.unlink()
    removed = []
    for entry in list(folder.iterdir()):
        if entry.name in keep or entry.name == RESUME_DIR:
            continue
        try:
            if entry.is_dir():
                entry.rmdir(recursive=True)
            else:
                entry.unlink()
            removed.append(entry.name)
        except FileNotFoundError:
            # Gone already: removed meanwhile, or listed by an object store that still shows a
            # prefix whose objects are all deleted (moto's versioned buckets do).
            continue
        except OSError as exc:
            log.warning("Could not remove leftover %s of flow %s: %s", entry.name, flow_id, exc)
    if removed:
        log.info("Removed %d leftover landed batch(es) of flow %s", len(removed), flow_id)
    return removed


def uncompressed_bytes(url: str) -> int:
    """Bytes of a landed file's column data before compression (from its footer: no data read)."""
    import pyarrow.parquet as pq

    with as_path(url).open("rb") as handle:
        meta = pq.ParquetFile(handle).metadata
        return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))


def read_json(url: str) -> Any:
    """A small JSON file of a landed batch (e.g. its boundary keys)."""
    import json

    with as_path(url).open("r") as handle:
        return json.load(handle)


def forget_batch(flow_id: str, batch_id: str) -> None:
    """Remove a committed batch's files; a leftover is only clutter, so failures are logged."""
    try:
        remove_batch(flow_id, batch_id)
    except OSError as exc:
        log.warning("Could not remove landed batch %s of flow %s: %s", batch_id, flow_id, exc)
