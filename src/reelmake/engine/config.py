"""``reelmake.toml`` at the project root: settings of the machinery, never of a storyboard.

A storyboard says what to make (and is part of every render key); this file says how this team runs
reelmake (where work executes, which shared services to use), so it can differ between a laptop and
CI without touching any key. It is optional; every setting has a default, and a command-line option
overrides it::

    executor = "ray"              # where local renders and cuts run: "in-process" (default) or "ray"

    [ray]
    address = "auto"              # the cluster: auto, ray://HOST:PORT (Ray Client) or HOST:PORT

The reader is generic: each feature reads its own keys with :func:`setting` and checks their values.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import StoryboardError

CONFIG_NAME = "reelmake.toml"


def config_path(root: Path) -> Path:
    return Path(root) / CONFIG_NAME


def read_config(root: Path) -> dict[str, Any]:
    """The project's ``reelmake.toml`` as a dict ({} when there is none); StoryboardError, with the
    line and column TOML reports, when it cannot be parsed."""
    path = config_path(root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise StoryboardError(f"{path}: cannot read it ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StoryboardError(f"{path}: not valid TOML: {exc}") from None


def setting(config: Mapping[str, Any], dotted: str, kind: type | tuple[type, ...], default: Any = None,
            *, root: Path | None = None) -> Any:
    """The value at ``dotted`` ("executor", "ray.address"), checked to be of ``kind``; ``default`` when
    absent. A value of another type is a StoryboardError naming the key (and the file, given ``root``)."""
    node: Any = config
    parts = dotted.split(".")
    for index, part in enumerate(parts):
        if not isinstance(node, Mapping):
            where = ".".join(parts[:index])
            raise StoryboardError(f"{_name(root)}: {where} must be a table ([{where}]), not {node!r}")
        if part not in node:
            return default
        node = node[part]
    if not isinstance(node, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise StoryboardError(f"{_name(root)}: {dotted} must be a {names}, not {node!r}")
    return node


def _name(root: Path | None) -> str:
    return str(config_path(root)) if root is not None else CONFIG_NAME


__all__ = ["CONFIG_NAME", "config_path", "read_config", "setting"]
