"""``reelmake.toml`` at the project root: settings of the project (not of one storyboard) that every
machine working on it shares through git, such as the team's remote clip store::

    remote = "s3://team-bucket/reelmake"   # or gs://…, az://…, file:///mnt/share/reelmake

Each setting is declared once in :data:`SETTINGS` (its type and what it is for), so a typo is an
error that names the known settings instead of being silently ignored. Secrets never go here:
credentials come from each service's own environment and config (``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``,
``GOOGLE_APPLICATION_CREDENTIALS``…). An environment variable ``REELMAKE_<NAME>`` overrides a setting
for one machine or one run (``REELMAKE_REMOTE=none`` turns the remote off).
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

# name → (accepted types, what it is for). Settings of other parts of reelmake are added here too.
SETTINGS: dict[str, tuple[tuple[type, ...], str]] = {
    "remote": ((str,), "URL of the team's shared clip store (s3://, gs://, az://, file:///)"),
    "claim_heartbeat": ((int, float), "seconds between a render claim's heartbeats in the remote (default 15)"),
    "claim_ttl": ((int, float), "seconds without a heartbeat before a claim counts as abandoned (default 90)"),
    "remote_poll": ((int, float), "seconds between looks at a shot another machine renders (default 5)"),
}


@dataclass(frozen=True)
class ProjectConfig:
    """The settings of one project: ``reelmake.toml`` as written, then environment overrides."""

    path: Path | None = None  # the file they came from (None: no file)
    values: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        """A setting: ``REELMAKE_<NAME>`` from the environment, else the file's, else ``default``."""
        if name not in SETTINGS:
            raise KeyError(f"{name!r} is not a declared reelmake.toml setting")
        env = os.environ.get(f"REELMAKE_{name.upper()}")
        if env is not None and env.strip():
            types = SETTINGS[name][0]
            if str in types:
                return env.strip()
            try:
                return float(env)
            except ValueError:
                raise StoryboardError(f"REELMAKE_{name.upper()}={env!r} is not a number") from None
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
        raise StoryboardError(f"{path}: {exc}") from None
    for name, value in values.items():
        if name not in SETTINGS:
            known = ", ".join(sorted(SETTINGS))
            raise StoryboardError(f"{path}:{_line_of(text, name)}: unknown setting {name!r} (known: {known})")
        types, purpose = SETTINGS[name]
        if not isinstance(value, types) or isinstance(value, bool):
            raise StoryboardError(f"{path}:{_line_of(text, name)}: {name} must be "
                                  f"{' or '.join(t.__name__ for t in types)} ({purpose})")
    return ProjectConfig(path, values)


def _line_of(text: str, name: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(name):
            return number
    return 1


__all__ = ["CONFIG_NAME", "SETTINGS", "ProjectConfig", "read_config"]
