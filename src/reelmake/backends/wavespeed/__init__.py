"""WaveSpeed AI as a host (Kling Video O3, Veo 3.1, Wan 3.0 reference-to-video; Seedream 4.5 and Nano
Banana images): the plugin object.

Importing this package is cheap: the HTTP backend is imported only when a render starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...jobs import ShotSpec
from ...plugins import BackendPlugin, RequestFormat
from . import compile as kling
from . import formats, images
from .settings import SCHEMA, resolve


def _create(settings: Mapping[str, Any], folder: Path) -> Any:
    from .backend import WaveSpeedBackend

    return WaveSpeedBackend(settings, folder)


plugin = BackendPlugin(
    name="wavespeed",
    remote=True,
    factory=_create,
    compilers={
        "kling-o3": RequestFormat(kling.prompt, kling.request),
        "veo3.1-reference": RequestFormat(ShotSpec.described, formats.veo_request),
        "wan3-reference": RequestFormat(ShotSpec.described, formats.wan3_request),
        "wavespeed-image": RequestFormat(images.prompt, images.request),
    },
    settings_schema=SCHEMA,
    runtime_settings=resolve,
    description="WaveSpeed AI (hosted, paid): Kling Video O3, Veo 3.1 and Wan 3.0 reference-to-video; Seedream 4.5 "
                "and Nano Banana images",
)
