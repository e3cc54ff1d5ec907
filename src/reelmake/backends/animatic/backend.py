"""The animatic backend: offline, free previews of a storyboard, rendered by ffmpeg.

Each shot becomes a real clip of the exact frame count, size and rate the storyboard asks for:
its first reference image full-frame with a slow push-in (or its reference video, or a colour
card), the other references as labelled thumbnails, and the shot id, compiled prompt, current
multi_prompt segment and a running timecode drawn on top. With ``sound`` it carries a quiet tone
bed so every audio path downstream is exercised. Everything drawn comes from the compiled
request, so the render key stays honest.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from ...errors import BackendError, BackendUnavailable, MediaError
from ...fsutil import atomic_path
from ...media import require_ffmpeg, run_ffmpeg
from .graph import Fonts, Picture, Segment, ShotCard, build_command, build_still_command
from ...jobs import RenderJob, StatusCallback, is_file_ref

log = logging.getLogger("reelmake.animatic")

_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_PUSH_IN_PER_SECOND = 0.02  # 2 % closer per second reads as a slow push-in …
_PUSH_IN_MAX = 0.12  # … and long shots stop before the picture turns soft


@functools.cache
def _ffmpeg_has(kind: str, name: str) -> bool:
    """Whether this ffmpeg build lists ``name`` among its ``-filters``/``-encoders``."""
    proc = run_ffmpeg([f"-{kind}"], what=f"listing ffmpeg {kind}")
    return any(line.split()[1:2] == [name] for line in proc.stdout.splitlines() if line.strip())


def _fc_match(pattern: str) -> Path | None:
    if shutil.which("fc-match") is None:
        return None
    proc = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True, check=False)
    path = Path(proc.stdout.strip())
    return path if proc.returncode == 0 and path.is_file() else None


@functools.cache
def find_fonts() -> Fonts:
    """DejaVu Sans (bold, mono) where Debian puts it, else what fontconfig offers, else ffmpeg's default."""

    def pick(filename: str, pattern: str) -> Path | None:
        path = _FONT_DIR / filename
        return path if path.is_file() else _fc_match(pattern)

    return Fonts(
        regular=pick("DejaVuSans.ttf", "DejaVu Sans"),
        bold=pick("DejaVuSans-Bold.ttf", "DejaVu Sans:bold"),
        mono=pick("DejaVuSansMono.ttf", "DejaVu Sans Mono"),
    )


def _fail(job: RenderJob, message: str) -> BackendError:
    return BackendError(f"shot {job.shot_id!r}: animatic request {message}")


def _picture(job: RenderJob, ref: Any, label: str) -> Picture:
    if is_file_ref(ref):
        try:
            return Picture(label=label, path=job.file(ref).path)
        except KeyError:
            raise _fail(job, f"names {ref} but the job carries no such file") from None
    if isinstance(ref, str) and ref.startswith(("https://", "http://")):
        return Picture(label=label, url=ref)
    raise _fail(job, f"has a reference that is neither a sha256: file nor a URL: {ref!r}")


def _segments(job: RenderJob, raw: Sequence[Mapping[str, Any]], fps: Fraction, frames: int) -> tuple[Segment, ...]:
    out: list[Segment] = []
    elapsed = Fraction(0)
    for i, item in enumerate(raw):
        try:
            seconds = Fraction(str(item["duration"]))
            text = str(item["prompt"])
        except (KeyError, TypeError, ValueError):
            raise _fail(job, f"has a malformed segments[{i}]: {item!r}") from None
        start = min(frames, round(elapsed * fps))
        elapsed += seconds
        end = frames if i == len(raw) - 1 else min(frames, round(elapsed * fps))
        if end > start:
            out.append(Segment(start=start, end=end, text=text))
    return tuple(out)


def _pictures(job: RenderJob) -> list[Picture]:
    req = job.request
    images = list(req.get("images") or [])
    labels = list(req.get("labels") or [])
    pictures = []
    for i, ref in enumerate(images):
        name = str(labels[i]) if i < len(labels) and labels[i] else ""
        # Compiled prompts call references "Figure N" (SPEC section 3); label them the same way.
        pictures.append(_picture(job, ref, f"Figure {i + 1} · {name}" if name else f"Figure {i + 1}"))
    return pictures


def image_card(job: RenderJob, fonts: Fonts | None = None, *, has_drawtext: bool = True) -> ShotCard:
    """The still the animatic draws for a generated image (``job.kind == "image"``): its first reference
    full-frame (else a colour card), the others as thumbnails, its name and prompt on top."""
    req = job.request
    try:
        width, height = int(req["width"]), int(req["height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(job, f"lacks a valid width/height ({exc})") from None
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise _fail(job, f"asks for {width}x{height}; the animatic draws even sizes only")
    pictures = _pictures(job)
    return ShotCard(
        shot_id=str(req.get("image") or job.shot_id),
        take=int(req.get("take") or 1),
        prompt=str(req.get("prompt") or ""),
        width=width,
        height=height,
        fps=Fraction(1),
        frames=1,
        sound=False,
        background=pictures[0] if pictures else None,
        thumbs=tuple(pictures[1:]),
        has_drawtext=has_drawtext,
        fonts=fonts or Fonts(),
        still=True,
    )


def shot_card(job: RenderJob, fonts: Fonts | None = None, *, has_drawtext: bool = True) -> ShotCard:
    """What the animatic draws for ``job``, from its compiled request; BackendError if malformed."""
    if job.kind == "image":
        return image_card(job, fonts, has_drawtext=has_drawtext)
    req = job.request
    try:
        width, height = int(req["width"]), int(req["height"])
        fps = Fraction(str(req["fps"]))
        duration = Fraction(str(req["duration"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise _fail(job, f"lacks a valid width/height/fps/duration ({exc})") from None
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise _fail(job, f"asks for {width}x{height}; H.264 4:2:0 needs positive even width and height")
    if fps <= 0 or duration <= 0:
        raise _fail(job, f"asks for fps {req['fps']} and duration {req['duration']}; both must be positive")
    frames = max(1, round(duration * fps))

    pictures = _pictures(job)
    video = req.get("video")
    if video:
        background: Picture | None = _picture(job, video, "Reference video")
        thumbs = pictures
    else:
        background, thumbs = (pictures[0], pictures[1:]) if pictures else (None, [])

    return ShotCard(
        shot_id=str(req.get("shot") or job.shot_id),
        take=int(req.get("take") or 1),
        prompt=str(req.get("prompt") or ""),
        width=width,
        height=height,
        fps=fps,
        frames=frames,
        sound=bool(req.get("sound")),
        background=background,
        background_is_video=bool(video),
        thumbs=tuple(thumbs),
        segments=_segments(job, req.get("segments") or [], fps, frames),
        push_in=min(_PUSH_IN_MAX, _PUSH_IN_PER_SECOND * float(duration)),
        has_drawtext=has_drawtext,
        fonts=fonts or Fonts(),
    )


def render_animatic(job: RenderJob, dest: Path, fonts: Fonts | None = None, *, has_drawtext: bool = True) -> None:
    """Render ``job`` into ``dest`` (an mp4, written atomically). Blocking; raises BackendError."""
    card = shot_card(job, fonts if fonts is not None else find_fonts(), has_drawtext=has_drawtext)
    build, suffix = (build_still_command, ".png") if card.still else (build_command, ".mp4")
    with tempfile.TemporaryDirectory(prefix="reelmake-animatic-") as workdir, \
            atomic_path(Path(dest), suffix=suffix) as tmp:
        try:
            run_ffmpeg(build(card, Path(workdir), tmp), what=f"animatic for {job.shot_id!r}")
        except MediaError as exc:
            raise BackendError(
                f"shot {job.shot_id!r}: the animatic render failed; check that its reference files are "
                f"readable media (ffprobe them).\n{exc}"
            ) from exc


class AnimaticBackend:
    """LocalBackend that renders previews with ffmpeg: offline, free, deterministic."""

    name = "animatic"
    remote = False

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        # No settings yet; accepted so `backends.animatic:` in a storyboard is not an error.
        self.settings = dict(settings or {})

    def preflight(self, jobs: list[RenderJob]) -> None:
        """Check ffmpeg and the H.264 encoder before any shot starts."""
        try:
            require_ffmpeg()
        except MediaError as exc:
            raise BackendUnavailable(f"the animatic backend needs ffmpeg: {exc}") from exc
        if not _ffmpeg_has("encoders", "libx264"):
            raise BackendUnavailable(
                "the animatic backend needs an ffmpeg built with libx264 (H.264); this one lacks it. "
                "Install your distribution's ffmpeg package (Debian/Ubuntu: `sudo apt-get install -y ffmpeg`)."
            )
        if not _ffmpeg_has("filters", "drawtext"):
            log.warning("this ffmpeg has no drawtext filter (built without libfreetype): "
                        "animatic clips will carry no text")
        for job in jobs:
            shot_card(job)  # malformed requests fail here, before anything renders

    async def run(self, job: RenderJob, dest: Path, on_status: StatusCallback) -> None:
        """Render ``job`` into ``dest`` on a worker thread."""
        card = shot_card(job)
        on_status("running", f"ffmpeg animatic {card.width}x{card.height}, "
                             + ("one still" if card.still else f"{card.frames} frames"))
        has_drawtext = await asyncio.to_thread(_ffmpeg_has, "filters", "drawtext")
        await asyncio.to_thread(render_animatic, job, Path(dest), find_fonts(), has_drawtext=has_drawtext)

    async def aclose(self) -> None:
        """Nothing to release: each render is one ffmpeg process that has already exited."""
