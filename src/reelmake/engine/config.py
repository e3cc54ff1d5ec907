"""``reelmake.toml`` at the project root: settings of the machinery, never of a storyboard.

A storyboard says what to make (and is part of every render key); this file says how the team runs
reelmake (the shared clip store, where local work executes), so it can differ between a laptop and CI
without touching any key. It is optional, shared through git, and every setting has a default::

    remote = "s3://team-bucket/reelmake"   # or gs://…, az://…, file:///mnt/share/reelmake
    executor = "ray"                       # where local renders and cuts run: "in-process" (default) or "ray"

    [ray]
    address = "auto"                       # the cluster: auto, ray://HOST:PORT (Ray Client) or HOST:PORT

Each setting is declared once in :data:`SETTINGS` (its type and what it is for), so a typo is an
error that names the known settings instead of being silently ignored. Secrets never go here:
credentials come from each service's own environment and config (``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``,
``GOOGLE_APPLICATION_CREDENTIALS``…). An environment variable ``REELMAKE_<NAME>`` overrides a setting
for one machine or one run (``REELMAKE_REMOTE=none`` turns the remote off; ``REELMAKE_RAY_ADDRESS`` for
``[ray] address``); a command-line option overrides both.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StoryboardError

CONFIG_NAME = "reelmake.toml"

# name → (accepted types, what it is for); "table.key" for a key of a [table]. Settings of other parts of
# reelmake are added here too.
SETTINGS: dict[str, tuple[tuple[type, ...], str]] = {
    "remote": ((str,), "URL of the team's shared clip store (s3://, gs://, az://, file:///)"),
    "claim_heartbeat": ((int, float), "seconds between a render claim's heartbeats in the remote (default 15)"),
    "claim_ttl": ((int, float), "seconds without a heartbeat before a claim counts as abandoned (default 90)"),
    "remote_poll": ((int, float), "seconds between looks at a shot another machine renders (default 5)"),
    "executor": ((str,), "where local-model renders and cuts run: in-process (default) or ray"),
    "ray.address": ((str,), "the Ray cluster: auto, ray://HOST:PORT (Ray Client) or HOST:PORT"),
}
TABLES = {name.split(".", 1)[0] for name in SETTINGS if "." in name}


@dataclass(frozen=True)
class ProjectConfig:
    """The settings of one project: ``reelmake.toml`` as written, then environment overrides."""

    path: Path | None = None  # the file they came from (None: no file)
    values: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        """A setting: ``REELMAKE_<NAME>`` from the environment, else the file's, else ``default``."""
        if name not in SETTINGS:
            raise KeyError(f"{name!r} is not a declared reelmake.toml setting")
        env = os.environ.get(_env_name(name))
        if env is not None and env.strip():
            types = SETTINGS[name][0]
            if str in types:
                return env.strip()
            try:
                return float(env)
            except ValueError:
                raise StoryboardError(f"{_env_name(name)}={env!r} is not a number") from None
        return self.values.get(name, default)

    def seconds(self, name: str, default: float) -> float:
        value = float(self.get(name, default))
        if not value > 0:
            raise StoryboardError(f"{name} must be a number of seconds greater than 0 (in {self.where})")
        return value

    @property
    def where(self) -> str:
        return str(self.path) if self.path else "the environment"


def read_config(root: Path) -> ProjectConfig:
    """The project's settings from ``<root>/reelmake.toml`` (none when there is no file).

    StoryboardError, naming the file and line, for TOML that does not parse, an unknown setting or a
    value of the wrong type."""
    path = Path(root) / CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ProjectConfig()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoryboardError(f"{path}: cannot be read: {exc}") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message carries "(at line L, column C)"
        raise StoryboardError(f"{path}: not valid TOML: {exc}") from None
    values = _flattened(path, text, values)
    for name, value in values.items():
        if name not in SETTINGS:
            known = ", ".join(sorted(SETTINGS))
            raise StoryboardError(f"{path}:{_line_of(text, name)}: unknown setting {name!r} (known: {known})")
        types, purpose = SETTINGS[name]
        if not isinstance(value, types) or isinstance(value, bool):
            raise StoryboardError(f"{path}:{_line_of(text, name)}: {name} must be "
                                  f"{' or '.join(t.__name__ for t in types)} ({purpose})")
    return ProjectConfig(path, values)


def _flattened(path: Path, text: str, values: dict[str, Any]) -> dict[str, Any]:
    """``[ray] address = …`` as ``ray.address``; a table's name given a plain value is an error."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in TABLES and not isinstance(value, dict):
            keys = ", ".join(sorted(k.split(".", 1)[1] for k in SETTINGS if k.startswith(name + ".")))
            raise StoryboardError(f"{path}:{_line_of(text, name)}: {name} must be a table ([{name}] with {keys})")
        if isinstance(value, dict):
            out.update({f"{name}.{key}": inner for key, inner in value.items()})
        else:
            out[name] = value
    return out


def _env_name(name: str) -> str:
    return "REELMAKE_" + name.upper().replace(".", "_")


def _line_of(text: str, name: str) -> int:
    table, _, key = name.rpartition(".")
    inside = not table  # a table's key is looked for after its [table] header
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if table and stripped.startswith("[") and stripped.strip("[] ") == table:
            inside = True
        elif inside and stripped.startswith(key):
            return number
    return 1


__all__ = ["CONFIG_NAME", "SETTINGS", "ProjectConfig", "read_config"]
