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


def installed_expectation_types() -> list[str]:
    """Expectation types registered by the installed great-expectations, sorted."""
    from syncgate.quality.checkpoint import load_gx

    load_gx()  # importing GX registers the core expectations
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    return sorted(list_registered_expectation_implementations())


def main() -> None:
    names = installed_expectation_types()
    body = "".join(f'        "{name}",\n' for name in names)
    target = Path(__file__).with_name("expectation_types.py")
    target.write_text(f"{HEADER}{body}    }}\n)\n")


if __name__ == "__main__":
    main()
