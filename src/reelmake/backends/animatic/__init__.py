"""The animatic: offline, free previews drawn by ffmpeg (the plugin object; see ``backend``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...plugins import BackendPlugin, RequestFormat
from . import compile as animatic

SCHEMA: dict[str, Any] = {
    "title": "Animatic settings",
    "description": "Settings for the offline animatic backend.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max_concurrency": {"type": "integer", "minimum": 1,
                            "description": "Previews drawn at once (default 2: each is one ffmpeg process)."},
    },
}


def _create(settings: Mapping[str, Any], folder: Path) -> Any:
    from .backend import AnimaticBackend

    return AnimaticBackend(settings)


plugin = BackendPlugin(
    name="animatic",
    remote=False,
    factory=_create,
    compilers={"animatic": RequestFormat(animatic.prompt, animatic.request),
               "animatic-image": RequestFormat(animatic.image_prompt, animatic.image_request)},
    settings_schema=SCHEMA,
    description="Animatic previews drawn by ffmpeg from the references, and stills standing in for generated "
                "images (offline, free)",
)
