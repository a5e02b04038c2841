"""Compile Jinja templates once per machine instead of once per task.

Every verify task is a fresh process, and GX compiles the ~55 Jinja templates of its Data Docs
pages again each time (about 0.3-0.5 s, most of the Data Docs build for a small batch). Jinja's
bytecode cache keeps the compiled templates on disk, keyed by template name and source checksum
(a GX upgrade recompiles), in Jinja's per-user cache folder (mode 0700, ownership checked).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


@cache
def bytecode_cache() -> jinja2.BytecodeCache:
    import jinja2

    return jinja2.FileSystemBytecodeCache()


def cache_gx_templates() -> None:
    """Give every GX Data Docs view environment the shared bytecode cache (idempotent)."""
    from great_expectations.render.view.view import DefaultJinjaView

    original = DefaultJinjaView.__init__
    if getattr(original, "_syncgate_cached", False):
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.env.bytecode_cache = bytecode_cache()

    __init__._syncgate_cached = True  # type: ignore[attr-defined]
    DefaultJinjaView.__init__ = __init__  # type: ignore[method-assign]
