"""The conflict log of two-way and multi-way flows, as people read and resolve it (CLI and UI)."""
