"""fal.ai as a host (Kling O3 reference-to-video, Kling O3 4K, Seedance 2.0): the plugin object.

Importing this package is cheap: the HTTP backend is imported only when a render starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...plugins import BackendPlugin, RequestFormat
from ..remote.settings import hosted_schema
from . import compile as formats


def _create(settings: Mapping[str, Any], folder: Path) -> Any:
    from .backend import FalBackend

    return FalBackend(settings, folder)


plugin = BackendPlugin(
    name="fal",
    remote=True,
    factory=_create,
    compilers={
        "kling-o3-fal": RequestFormat(formats.kling_prompt, formats.kling_request),
        "seedance-2.0-reference": RequestFormat(formats.seedance_prompt, formats.seedance_request),
    },
    settings_schema=hosted_schema("fal", "FAL_KEY", "FAL_BASE_URL"),
    description="fal.ai queue (hosted, paid): Kling O3 (Standard, Pro, 4K) and Seedance 2.0 reference-to-video",
)
