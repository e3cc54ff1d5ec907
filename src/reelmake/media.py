"""ffprobe/ffmpeg at the edge: probing media and running ffmpeg visibly.

Every ffmpeg invocation goes through :func:`run_ffmpeg` so ``-v`` can print the exact
command a user may paste into a shell. Filter graphs are built in ``ffgraph`` (ffmpeg-python).
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .errors import MediaError

log = logging.getLogger("reelmake.ffmpeg")


def require_ffmpeg() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise MediaError(
                f"{tool} was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install -y ffmpeg`; "
                "macOS: `brew install ffmpeg`), or run `make demo`, which installs it when run as root."
            )


@dataclass(frozen=True)
class MediaInfo:
    """What reelmake needs to know about a media file."""

    path: Path
    format_name: str
    duration: float
    width: int | None = None
    height: int | None = None
    fps: Fraction | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    pix_fmt: str | None = None
    size_bytes: int = 0

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def _fraction(text: str | None) -> Fraction | None:
    if not text or text in ("0/0", "0"):
        return None
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return value or None


# The demuxer for each file type reelmake reads from a project, by extension. ffmpeg otherwise detects
# formats by content, so a `.mp4` that is really an HLS or concat playlist could make it open any
# file it names; pinned to the format its name claims, such a file is simply not valid media.
DEMUXERS: dict[str, dict[str, str]] = {
    "image": {".png": "png_pipe", ".jpg": "jpeg_pipe", ".jpeg": "jpeg_pipe", ".webp": "webp_pipe"},
    "video": {".mp4": "mov", ".mov": "mov", ".m4v": "mov", ".webm": "matroska", ".mkv": "matroska"},
    "audio": {".wav": "wav", ".m4a": "mov", ".mp4": "mov", ".aac": "aac", ".mp3": "mp3", ".flac": "flac",
              ".ogg": "ogg", ".opus": "ogg"},
}
# Only plain files: no network, no `subfile:`/`concat:` indirection for anything we open.
PROTOCOLS = "file,pipe"


def demuxer_for(path: Path, kind: str | None = None) -> str | None:
    """The demuxer for ``path`` by its extension (within ``kind`` when given); None: not a type we read."""
    suffix = Path(path).suffix.lower()
    tables = [DEMUXERS[kind]] if kind else list(DEMUXERS.values())
    return next((table[suffix] for table in tables if suffix in table), None)


_MAGIC = ((b"\x89PNG\r\n\x1a\n", ".png"), (b"\xff\xd8\xff", ".jpg"))


def image_suffix(path: Path) -> str | None:
    """The file type of a still image by its first bytes (.png, .jpg, .webp), whatever its name says;
    None for anything else. Hosts deliver generated images as they please."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return next((suffix for magic, suffix in _MAGIC if head.startswith(magic)), None)


def input_args(path: Path, kind: str | None = None) -> list[str]:
    """``-i path`` for a file from a project, with its demuxer pinned and only the file protocol allowed.

    A path ffmpeg could read as a protocol or pattern (``a:b.png``, ``shot%03d.png``) is passed as
    ``file:`` so it is read as the one file it names."""
    fmt = demuxer_for(path, kind)
    pinned = ["-f", fmt] if fmt else []
    return [*pinned, "-protocol_whitelist", PROTOCOLS, "-i", f"file:{Path(path).resolve()}"]


def ffprobe(path: Path, kind: str | None = None, *args: str, demuxer: str | None = None) -> dict:
    """ffprobe's JSON for ``path`` (demuxer pinned by extension, or ``demuxer``) with ``args`` choosing
    what to show; MediaError if it is not readable media."""
    require_ffmpeg()
    fmt = demuxer or demuxer_for(path, kind)
    pinned = ["-f", fmt] if fmt else []
    cmd = ["ffprobe", "-v", "error", *pinned, "-protocol_whitelist", PROTOCOLS, "-print_format", "json",
           *args, f"file:{Path(path).resolve()}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise MediaError(f"{path}: not readable media ({proc.stderr.strip() or 'ffprobe failed'})")
    try:
        return json.loads(proc.stdout or "{}")
    except ValueError:
        raise MediaError(f"{path}: ffprobe printed no readable description") from None


def probe(path: Path, kind: str | None = None, *, demuxer: str | None = None) -> MediaInfo:
    """Probe ``path`` with ffprobe (its demuxer pinned by extension, or ``demuxer``); MediaError if it is
    not readable media."""
    data = ffprobe(path, kind, "-show_format", "-show_streams", demuxer=demuxer)
    fmt = data.get("format", {})
    video = next((s for s in data.get("streams", []) if s.get("codec_type") == "video"), None)
    audio = next((s for s in data.get("streams", []) if s.get("codec_type") == "audio"), None)
    duration = float(fmt.get("duration") or (video or {}).get("duration") or 0.0)
    return MediaInfo(
        path=Path(path),
        format_name=fmt.get("format_name", ""),
        duration=duration,
        width=int(video["width"]) if video and video.get("width") else None,
        height=int(video["height"]) if video and video.get("height") else None,
        fps=_fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate")) if video else None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        sample_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        channels=int(audio["channels"]) if audio and audio.get("channels") else None,
        pix_fmt=video.get("pix_fmt") if video else None,
        size_bytes=int(fmt.get("size") or Path(path).stat().st_size),
    )


def run_ffmpeg(args: list[str], *, what: str = "ffmpeg") -> subprocess.CompletedProcess:
    """Run ``ffmpeg`` with ``args`` (without the leading 'ffmpeg'); log the exact command at INFO.

    Raises :class:`MediaError` with the tail of ffmpeg's stderr when it fails.
    """
    require_ffmpeg()
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-y", *args]
    log.info("%s", shlex.join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise MediaError(f"{what} failed (exit {proc.returncode}):\n{tail}\ncommand: {shlex.join(cmd)}")
    return proc
