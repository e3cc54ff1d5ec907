"""``backends.local`` settings for the Wan 2.1 VACE backend, checked without importing torch.

The validator calls :func:`check_settings` on every storyboard that uses the local backend, so a typo,
a size the model cannot take or a checkpoint directory that is not there is reported at validation
time, before any model loads. Everything here is stdlib only: the core install must work without
the ``local`` extra.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

INSTALL_HINT = "pip install 'reelmake[local]'"

# What the backend needs at run time (Pillow and numpy come with these). ftfy is listed because the
# Wan pipeline cleans every prompt with it and fails at the first shot when it is missing.
EXTRA_MODULES = ("torch", "diffusers", "transformers", "accelerate", "ftfy")

DTYPES = ("bfloat16", "float16", "float32")
OFFLOAD_MODES = ("none", "model", "sequential")
ASPECT_RATIOS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}
# Width and height must divide by the VAE's spatial stride (8) times the transformer's patch size (2).
SIZE_MULTIPLE = 16

SETTINGS_KEYS = frozenset(
    {
        "model_path",
        "device",
        "devices",
        "dtype",
        "offload",
        "steps",
        "guidance_scale",
        "flow_shift",
        "fps",
        "sizes",
        "max_concurrency",
        "timeout",
    }
)

_DEVICE_RE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_ASPECT_TOLERANCE = 0.10


def missing_modules() -> list[str]:
    """The modules of the ``local`` extra that cannot be found (nothing is imported)."""
    return [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]


def extra_installed() -> bool:
    """True when ``reelmake[local]`` is installed: torch, diffusers, transformers, accelerate, ftfy."""
    return not missing_modules()


def extra_missing_message() -> str:
    missing = ", ".join(missing_modules()) or "nothing"
    return (
        f"the local backend needs the 'local' extra (missing: {missing}); install it with `{INSTALL_HINT}` "
        "(for a CUDA build of torch, follow https://pytorch.org/get-started/locally/ first)"
    )


def parse_size(text: str) -> tuple[int, int]:
    """``"832x480"`` → ``(832, 480)``; raises ValueError for anything else."""
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not WIDTHxHEIGHT")
    return int(match.group(1)), int(match.group(2))


def num_frames_for(duration: float, fps: int) -> int:
    """The frame count to generate for ``duration`` seconds at ``fps``: the nearest 4k+1 (the Wan VAE
    compresses time by 4 and keeps the first frame), ties going up so the clip is trimmed rather than
    padded, and at least 5 frames."""
    exact = duration * fps
    k = math.floor((exact - 1) / 4 + 0.5)
    return max(4 * k + 1, 5)


def looks_like_local_path(text: str, base_dir: Path | None = None) -> bool:
    """Whether a ``model_path`` names a directory rather than a Hugging Face hub id.

    Hub ids are ``owner/name``; anything absolute, starting with ``.`` or ``~``, with a backslash or
    more than one slash, or existing on disk is a path (diffusers makes the same call for ``a/b``:
    a directory of that name wins).
    """
    if text.startswith(("/", ".", "~")) or "\\" in text or text.count("/") != 1:
        return True
    return resolve_local_path(text, base_dir).exists()


def resolve_local_path(text: str, base_dir: Path | None = None) -> Path:
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


def model_dir_problem(path: Path, written: str | None = None) -> str | None:
    """Why ``path`` is not a diffusers pipeline directory, or None when it is one.

    ``written`` is the path as the user wrote it, shown with where it was looked for.
    """
    shown = repr(written or str(path))
    if written and Path(written).expanduser() != path:
        shown += f" (looked for {path.absolute()})"
    if not path.exists():
        return f"model directory {shown} does not exist"
    if not path.is_dir():
        return f"{shown} is not a directory"
    if not (path / "model_index.json").is_file():
        return (
            f"{shown} is not a diffusers pipeline (no model_index.json); download one with "
            "`huggingface-cli download Wan-AI/Wan2.1-VACE-1.3B-diffusers --local-dir DIR`"
        )
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_device(path: str, value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, str) or not _DEVICE_RE.match(value):
        return [(path, f"{value!r} is not a device; use cuda, cuda:N, cpu or mps")]
    return []


def _check_sizes(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        return [("sizes", 'must map aspect ratios to sizes, e.g. {"16:9": "832x480"}')]
    problems: list[tuple[str, str]] = []
    for ratio, size in value.items():
        path = f"sizes.{ratio}"
        if ratio not in ASPECT_RATIOS:
            problems.append((path, f"unknown aspect ratio {ratio!r}; use {', '.join(ASPECT_RATIOS)}"))
            continue
        try:
            width, height = parse_size(size)
        except ValueError:
            problems.append((path, f"{size!r} is not a size; write WIDTHxHEIGHT, e.g. 832x480"))
            continue
        if width <= 0 or height <= 0 or width % SIZE_MULTIPLE or height % SIZE_MULTIPLE:
            fixed = f"{_round16(width)}x{_round16(height)}"
            problems.append(
                (path, f"{size}: width and height must be positive multiples of {SIZE_MULTIPLE} (try {fixed})")
            )
            continue
        if abs(width / height / ASPECT_RATIOS[ratio] - 1) > _ASPECT_TOLERANCE:
            problems.append((path, f"{size} is not close to {ratio}; width and height may be swapped"))
    return problems


def _round16(value: int) -> int:
    return max(SIZE_MULTIPLE, round(value / SIZE_MULTIPLE) * SIZE_MULTIPLE)


def settings_problems(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(key path under backends.local, message)`` for every problem in ``settings`` as written.

    Pure: whether the model directory exists and the extra is installed is :func:`environment_problems`.
    """
    problems: list[tuple[str, str]] = []
    for key in settings:
        if key not in SETTINGS_KEYS:
            known = ", ".join(sorted(SETTINGS_KEYS))
            problems.append((str(key), f"unknown setting {key!r} for the local backend; known: {known}"))

    model_path = settings.get("model_path")
    if model_path is not None and (not isinstance(model_path, str) or not model_path.strip()):
        problems.append(("model_path", "must be a hub id (owner/name) or a directory"))

    if "device" in settings and "devices" in settings:
        problems.append(("devices", "set either device or devices, not both"))
    if "device" in settings:
        problems += _check_device("device", settings["device"])
    if "devices" in settings:
        devices = settings["devices"]
        if not isinstance(devices, list) or not devices:
            problems.append(("devices", "must be a non-empty list such as [cuda:0, cuda:1]"))
        else:
            for i, device in enumerate(devices):
                problems += _check_device(f"devices[{i}]", device)
            if len(set(map(str, devices))) != len(devices):
                problems.append(("devices", "lists a device twice; each device gets one worker"))

    dtype = settings.get("dtype")
    if dtype is not None and dtype not in DTYPES:
        problems.append(("dtype", f"{dtype!r} is not a dtype; use {', '.join(DTYPES)}"))
    offload = settings.get("offload")
    if offload is not None and offload not in OFFLOAD_MODES:
        problems.append(("offload", f"{offload!r} is not an offload mode; use {', '.join(OFFLOAD_MODES)}"))
    elif offload not in (None, "none") and not any(
        str(d).startswith("cuda") for d in settings.get("devices") or [settings.get("device", "cuda")]
    ):
        problems.append(("offload", "offloading moves weights between CPU and GPU; it needs a cuda device"))

    steps = settings.get("steps")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= 1000):
        problems.append(("steps", f"{steps!r} must be a whole number of denoising steps, 1 to 1000"))
    guidance = settings.get("guidance_scale")
    if guidance is not None and (not _is_number(guidance) or not 0 <= guidance <= 50):
        problems.append(("guidance_scale", f"{guidance!r} must be a number from 0 to 50 (Wan default 5.0)"))
    shift = settings.get("flow_shift")
    if shift is not None and (not _is_number(shift) or not 0 < shift <= 50):
        problems.append(("flow_shift", f"{shift!r} must be a positive number (3.0 for 480p, 5.0 for 720p)"))
    fps = settings.get("fps")
    if fps is not None and (not isinstance(fps, int) or isinstance(fps, bool) or not 1 <= fps <= 60):
        problems.append(("fps", f"{fps!r} must be a whole number of frames per second, 1 to 60 (Wan: 16)"))
    if "sizes" in settings:
        problems += _check_sizes(settings["sizes"])
    return problems


def environment_problems(settings: Mapping[str, Any], base_dir: Path | None = None) -> list[tuple[str, str, bool]]:
    """``(key, message, is_warning)`` for what this machine lacks: the checkpoint directory a
    ``model_path`` names (an error), and the ``local`` extra (a warning: validating and planning work
    without torch; only a render needs it)."""
    problems: list[tuple[str, str, bool]] = []
    model_path = settings.get("model_path")
    if isinstance(model_path, str) and model_path.strip():
        if looks_like_local_path(model_path, base_dir):
            problem = model_dir_problem(resolve_local_path(model_path, base_dir), model_path)
            if problem:
                problems.append(("model_path", problem, False))
        elif not _HUB_ID_RE.match(model_path):
            problems.append(("model_path", f"{model_path!r} is neither a hub id (owner/name) nor a directory", False))
    if not extra_installed():
        problems.append(("", extra_missing_message(), True))
    return problems


def check_settings(settings: Mapping[str, Any], base_dir: Path | None = None) -> list[str]:
    """Messages for every problem in a storyboard's ``backends.local`` settings and this machine;
    empty when usable. Each message starts with the offending key (``sizes.16:9: …``)."""
    found = [(path, message) for path, message in settings_problems(settings)]
    found += [(path, message) for path, message, _ in environment_problems(settings, base_dir)]
    return [f"{path}: {message}" if path else message for path, message in found]
