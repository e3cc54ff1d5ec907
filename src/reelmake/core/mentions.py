"""`@name` mentions in prompts: find them and substitute them. `@@` is a literal `@`."""

from __future__ import annotations

import re
from collections.abc import Callable

# A name ends before trailing punctuation; hyphens only join word characters ("@maya-2", not "@maya-").
MENTION = re.compile(r"@@|@([A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*)")


def find_mentions(text: str) -> list[tuple[str, int]]:
    """Mentioned names with their character offsets, in order (repeats included)."""
    return [(m.group(1), m.start()) for m in MENTION.finditer(text) if m.group(1)]


def substitute(text: str, replace: Callable[[str], str]) -> str:
    """Replace each `@name` with ``replace(name)`` and each `@@` with `@`."""
    return MENTION.sub(lambda m: replace(m.group(1)) if m.group(1) else "@", text)
