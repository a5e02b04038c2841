"""The flows the UI shows: the deployment's specs, re-read only when a spec file changes.

Validating 200 specs costs more than the health page's whole budget, so the loaded specs are
kept until a file in the flows folder is added, removed or modified.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from syncgate import settings
from syncgate.spec.loader import SPEC_SUFFIXES, load_specs
from syncgate.spec.model import FlowSpec
from syncgate.spec.sync_model import SyncSpec


@dataclass(frozen=True)
class Flows:
    """Valid specs by id (sorted), one-way and sync flows alike, and the files that failed to load."""

    specs: dict[str, FlowSpec | SyncSpec]
    broken: list[str]

    @property
    def tags(self) -> list[str]:
        return sorted({tag for spec in self.specs.values() for tag in spec.tags})


_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[tuple[str, int, int], ...], Flows]] = {}


def current_flows(folder: Path | None = None) -> Flows:
    """The flows of ``folder`` (default ``settings.flows_dir()``), cached by file stamps."""
    folder = folder or settings.flows_dir()
    stamp = _stamp(folder)
    with _lock:
        cached = _cache.get(folder)
        if cached and cached[0] == stamp:
            return cached[1]
    loaded = load_specs(folder)
    flows = Flows(
        specs={item.spec.id: item.spec for item in loaded if item.spec is not None},
        broken=[item.path.name for item in loaded if item.spec is None],
    )
    with _lock:
        _cache[folder] = (stamp, flows)
    return flows


def _stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    if not folder.is_dir():
        return ()
    found = []
    for path in folder.iterdir():
        if path.suffix in SPEC_SUFFIXES:
            info = path.stat()
            found.append((path.name, info.st_mtime_ns, info.st_size))
    return tuple(sorted(found))
