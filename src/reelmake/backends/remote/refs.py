"""Local files in a compiled request, wherever a host's format nests them.

Requests carry local files as ``sha256:<hex>`` strings (``reelmake.jobs``); hosts nest them
differently (``images``, ``elements[].frontal_image_url``, ``image_list[].image_url``, ``video_url``…).
These helpers find and replace them without knowing the format.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from ...jobs import is_file_ref


def file_refs(value: Any) -> Iterator[str]:
    """Every ``sha256:`` reference in a JSON-able value, in order (repeats included)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from file_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from file_refs(item)
    elif is_file_ref(value):
        yield value


async def replace_refs(value: Any, url_for: Callable[[str], Awaitable[str]]) -> Any:
    """A copy of ``value`` with each ``sha256:`` reference replaced by ``await url_for(ref)``."""
    if isinstance(value, dict):
        return {key: await replace_refs(item, url_for) for key, item in value.items()}
    if isinstance(value, list):
        return [await replace_refs(item, url_for) for item in value]
    if is_file_ref(value):
        return await url_for(value)
    return value
