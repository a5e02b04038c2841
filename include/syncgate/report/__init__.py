"""The sync run report: one JSON + HTML document per flow run (window, counts, bytes, quality,
freshness, durations), built from the audit row, the batch manifest and the GX result."""
