"""Per-run reports: where they live and how the UI links to them."""

from __future__ import annotations
