"""Let GX reflect every PostgreSQL column type of the staged table, by the type's own name.

GX reads the staged table's column types through SQLAlchemy reflection before it checks any
expectation (column existence, type checks). SQLAlchemy's PostgreSQL dialect knows some types
only: any other (``xml``, ``point``, ``pg_lsn``, ``txid_snapshot``, a composite, a domain over
one of these, an extension's type...) is reflected as ``NullType``, which GX then fails to print
("Can't generate DDL for NullType()"), and every expectation of the batch, the key checks
first, fails with that misleading message.

The fix is a SQLAlchemy engine plugin (a documented extension point), enabled through the
datasource's engine ``kwargs`` so every engine GX builds for it gets it: the dialect's table of
type names then answers any name it does not know with a type that prints that very name.
Known types reflect as before; nothing is cast, and a type check in a suite sees the real type.
"""

from __future__ import annotations

from functools import cache
from typing import Any

PLUGIN = "syncgate_pg_types"


def engine_kwargs() -> dict[str, Any]:
    """``create_engine`` keyword arguments that enable the plugin (registered here, once)."""
    from sqlalchemy.dialects import plugins

    plugins.register(PLUGIN, __name__, "NamedTypesPlugin")
    return {"plugins": [PLUGIN]}


def named_type(name: str, *args: Any, **_options: Any) -> Any:
    """A SQLAlchemy type that compiles to ``name`` (with its modifiers, e.g. ``geometry(Point,4326)``)."""
    spec = f"{name}({','.join(str(a) for a in args)})" if args else name
    return _named_type_class()(spec)


@cache
def _named_type_class() -> type:
    from sqlalchemy.types import UserDefinedType

    class PgNamedType(UserDefinedType[Any]):
        """A PostgreSQL type known by name only: no bind or result processing (text in, text out)."""

        cache_ok = True

        def __init__(self, spec: str) -> None:
            self.spec = spec

        def get_col_spec(self, **_kw: Any) -> str:
            return self.spec

    return PgNamedType


class _EveryName(dict):  # type: ignore[type-arg]
    """The dialect's ``ischema_names``: a known name maps to its type, any other to a named type."""

    def get(self, key: Any, default: Any = None) -> Any:
        found = super().get(key, default)
        if found is not None:
            return found
        return lambda *args, **options: named_type(str(key), *args, **options)


def NamedTypesPlugin(url: Any, kwargs: Any) -> Any:  # noqa: N802 - SQLAlchemy loads it by this name
    """The engine plugin (built lazily: SQLAlchemy is imported inside the verify task only)."""
    from sqlalchemy.engine import CreateEnginePlugin

    class _Plugin(CreateEnginePlugin):
        def update_url(self, url: Any) -> Any:
            return url  # the plugin takes no URL parameters

        def engine_created(self, engine: Any) -> None:
            names = engine.dialect.ischema_names
            if not isinstance(names, _EveryName):
                # On this engine's dialect only: other engines in the process are left alone.
                engine.dialect.ischema_names = _EveryName(names)

    return _Plugin(url, kwargs)
