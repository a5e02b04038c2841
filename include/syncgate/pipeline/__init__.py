"""The five stages of a flow run: extract, transform, load, verify, promote.

Each stage takes the flow spec, the run's identity and the previous stage's manifest (a
JSON-safe dict: paths, counts, watermarks; never data) and returns the next manifest.
"""

from __future__ import annotations
