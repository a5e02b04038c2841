"""Two-way and multi-way sync: the N-sided three-way merge, its rules, the conflict log and the
echo ledger (what syncgate last saw on, or wrote to, each side)."""
