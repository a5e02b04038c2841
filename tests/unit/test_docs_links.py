"""Every relative link in the documentation points at a file (and heading) that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
# Written on another branch (the connectors work); a link to them is accepted only while they
# are missing here, so once they land they are checked like any other file.

_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def doc_files(root: Path = REPO) -> list[Path]:
    return [root / "README.md", root / "BENCHMARKS.md", *sorted((root / "docs").glob("*.md"))]


def links(markdown: str) -> list[str]:
    """Link targets of ``markdown``, outside code blocks and code spans."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", markdown))
    return _LINK.findall(prose)


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _FENCE.sub("", markdown), re.M):
        text = _CODE_SPAN.sub(lambda m: m.group(0).strip("`"), heading).lower()
        found.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return found


def broken_links(doc: Path, root: Path = REPO) -> list[str]:
    """``doc``'s relative links whose file or heading does not exist."""
    problems = []
    text = doc.read_text(encoding="utf-8")
    for target in links(text):
        if _EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (doc.parent / path_part).resolve() if path_part else doc
        if not resolved.exists():
            problems.append(f"{target}: no such file")
            continue
        if (
            anchor
            and resolved.suffix == ".md"
            and anchor not in anchors(resolved.read_text(encoding="utf-8"))
        ):
            problems.append(f"{target}: no heading with anchor #{anchor}")
    return problems


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(doc: Path) -> None:
    assert broken_links(doc) == []


def test_the_docs_link_to_each_other() -> None:
    # Guards the checker itself: were the link pattern broken, every page would pass vacuously.
    assert "docs/README.md" in links((REPO / "README.md").read_text(encoding="utf-8"))


def test_a_broken_link_or_anchor_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# Real heading\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/there.md#real-heading) [gone](docs/missing.md) [bad anchor](docs/there.md#nope)\n"
        "[web](https://example.com) `[in code](nowhere.md)`\n"
        "```\n[in a block](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page, tmp_path) == [
        "docs/missing.md: no such file",
        "docs/there.md#nope: no heading with anchor #nope",
    ]


def test_test_files_the_docs_name_exist() -> None:
    """A test module a page names in code (`tests/...py`) exists."""
    missing = [
        f"{doc.relative_to(REPO)}: {name}"
        for doc in doc_files()
        for name in re.findall(r"`(tests/[\w/]+\.py)`", doc.read_text(encoding="utf-8"))
        if not (REPO / name).is_file()
    ]
    assert missing == []
