"""Kognitiv sends a placeholder's own text (`{{memberEmail}}`) when a field is unknown to it. Such
a value is not data: it is never sent to MoEngage, wherever it appears."""

from __future__ import annotations

import re

_PLACEHOLDER_TEXT = re.compile(r"\{\{[^{}]*\}\}")


def is_unrendered(value: object) -> bool:
    """True for text that still holds a `{{...}}` placeholder."""
    return isinstance(value, str) and "{{" in value and bool(_PLACEHOLDER_TEXT.search(value))


UNRENDERED_WARNING = "holds an unrendered Kognitiv placeholder (a field unknown to Kognitiv)"
