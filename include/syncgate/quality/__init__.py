"""The quality gate: a Great Expectations checkpoint over exactly the staged batch."""

from __future__ import annotations
