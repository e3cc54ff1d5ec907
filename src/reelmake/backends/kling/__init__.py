"""Kling's own API as a host (Kling O3 as ``kling-v3-omni`` on Omni-Video): the plugin object.

Importing this package is cheap: the HTTP backend (and the JWT library) is imported only when a
render starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...plugins import BackendPlugin, RequestFormat
from ..remote.settings import hosted_schema
from . import compile as omni


def _create(settings: Mapping[str, Any], folder: Path) -> Any:
    from .backend import KlingBackend

    return KlingBackend(settings, folder)


plugin = BackendPlugin(
    name="kling",
    remote=True,
    factory=_create,
    compilers={"kling-omni": RequestFormat(omni.prompt, omni.request)},
    settings_schema=hosted_schema("Kling", "KLING_ACCESS_KEY and KLING_SECRET_KEY", "KLING_BASE_URL"),
    description="Kling's own API (hosted, paid): Kling O3 (kling-v3-omni) Omni-Video",
)
