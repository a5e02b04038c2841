"""Regenerate ``expectation_types.py`` from the installed GX: ``make expectation-types``."""

from __future__ import annotations

from pathlib import Path

HEADER = '''"""Expectation types known to the pinned great-expectations release.

Kept as data so that validating a spec never imports GX at DAG parse time. A unit test
compares this list with GX's own registry, so upgrading GX without refreshing it fails CI.
Refresh with: ``make expectation-types``.
"""

from __future__ import annotations

KNOWN_EXPECTATION_TYPES: frozenset[str] = frozenset(
    {
'''


def main() -> None:
    from syncgate.quality.checkpoint import quiet_gx

    quiet_gx()
    import great_expectations  # noqa: F401  (registers the core expectations)
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    names = sorted(list_registered_expectation_implementations())
    body = "".join(f'        "{name}",\n' for name in names)
    target = Path(__file__).with_name("expectation_types.py")
    target.write_text(f"{HEADER}{body}    }}\n)\n")


if __name__ == "__main__":
    main()
