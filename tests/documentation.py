"""The product's documentation as one text, in reading order: README.md, then its chapters
under docs/ (tests that check what the documentation says read this)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = [
    "configuration",
    "webhook",
    "mapping",
    "durable-path",
    "privacy",
    "operations",
    "deploy",
    "development",
    "decisions",
]


def documentation_text() -> str:
    known = [ROOT / "docs" / f"{name}.md" for name in CHAPTERS]
    others = sorted(set((ROOT / "docs").glob("*.md")) - set(known))
    pages = [ROOT / "README.md", *[p for p in known if p.exists()], *others]
    return "\n".join(page.read_text() for page in pages)
