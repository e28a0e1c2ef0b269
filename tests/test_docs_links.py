"""Every relative link and #anchor in the README and docs/ leads somewhere: a moved section or a
renamed heading breaks this, not a reader's click."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "SECURITY.md",
        ROOT / "BENCHMARKS.md",
        ROOT / "infra" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def prose(path: Path) -> list[str]:
    """The lines outside code fences, inline code removed."""
    lines, fence = [], False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return lines


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    fence = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
            continue
        match = None if fence else re.match(r"#{1,6} (.+)$", line)
        if match:
            base, count = slug(match[1]), 0
            while (name := base if not count else f"{base}-{count}") in found:
                count += 1
            found.add(name)
    return found


def links() -> list[tuple[Path, str]]:
    return [
        (doc, target) for doc in DOCUMENTS for line in prose(doc) for target in LINK.findall(line)
    ]


@pytest.mark.parametrize(("doc", "target"), links(), ids=lambda v: str(v)[-60:])
def test_link_resolves(doc: Path, target: str) -> None:
    if re.match(r"[a-z]+:", target):
        return  # the web is not checked offline
    path, _, anchor = target.partition("#")
    resolved = (doc.parent / path).resolve() if path else doc
    assert resolved.exists(), f"{doc.relative_to(ROOT)}: {target} does not exist"
    if anchor and resolved.suffix == ".md":
        assert anchor in anchors(resolved), f"{doc.relative_to(ROOT)}: no #{anchor} there"


def test_the_front_door_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_the_check_sees_a_broken_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A title\n\n## The webhook: `POST /api/x`\n")
    assert anchors(page) == {"a-title", "the-webhook-post-apix"}
