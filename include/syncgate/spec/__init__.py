"""Flow specs: typed, validated descriptions of one source-to-target flow."""

from __future__ import annotations

from syncgate.spec.loader import LoadedSpec, load_spec, load_specs
from syncgate.spec.model import FlowSpec

__all__ = ["FlowSpec", "LoadedSpec", "load_spec", "load_specs"]
