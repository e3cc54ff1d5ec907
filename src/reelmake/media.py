"""ffprobe/ffmpeg at the edge: probing media, building filter graphs, running ffmpeg visibly.

Filter graphs are built with ffmpeg-python (``import ffmpeg``): its nodes escape every option
value for the graph, so no filter string is assembled by hand. :func:`run_graph` compiles a graph
to an argument list and runs it through :func:`run_ffmpeg`, which logs the exact command (``-v``)
a user may paste into a shell.
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

import ffmpeg
from ffmpeg import _run as _ffmpeg_run
from ffmpeg.dag import topo_sort
from ffmpeg.nodes import FilterableStream, FilterNode, GlobalNode, InputNode, Node, OutputNode, Stream

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


def input_args(path: Path, kind: str | None = None) -> list[str]:
    """``-i path`` for a file from a project, with its demuxer pinned and only the file protocol allowed.

    A path ffmpeg could read as a protocol or pattern (``a:b.png``, ``shot%03d.png``) is passed as
    ``file:`` so it is read as the one file it names."""
    fmt = demuxer_for(path, kind)
    pinned = ["-f", fmt] if fmt else []
    return [*pinned, "-protocol_whitelist", PROTOCOLS, "-i", f"file:{Path(path).resolve()}"]


def ffprobe(path: Path, kind: str | None = None, *args: str) -> dict:
    """ffprobe's JSON for ``path`` (demuxer pinned by extension) with ``args`` choosing what to show;
    MediaError if it is not readable media."""
    require_ffmpeg()
    fmt = demuxer_for(path, kind)
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


def probe(path: Path, kind: str | None = None) -> MediaInfo:
    """Probe ``path`` with ffprobe (its demuxer pinned by extension); MediaError if it is not readable media."""
    data = ffprobe(path, kind, "-show_format", "-show_streams")
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


# -- filter graphs (ffmpeg-python) -------------------------------------------------------------


class _Unique:
    """Identity instead of ffmpeg-python's structural equality for inputs and sources. ffmpeg-python
    merges equal nodes, so the same file opened twice (two shots with one clip, a picture used as
    background and thumbnail) would become one input whose output feeds two consumers, which it
    refuses; opened once per use, as a hand-written command would, every chain stays its own."""

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


class _InputNode(_Unique, InputNode):
    pass


class _SourceNode(_Unique, FilterNode):
    """A source filter (``color``, ``anullsrc``, ``aevalsrc``…) inside the graph: a filter node without
    inputs, which ffmpeg-python's FilterNode does not allow; its options are escaped the same way."""

    def __init__(self, name: str, kwargs: dict[str, object]) -> None:
        Node.__init__(self, stream_spec=None, name=name, incoming_stream_types={FilterableStream},
                      outgoing_stream_type=FilterableStream, min_inputs=0, max_inputs=0, args=[], kwargs=kwargs)


def input_stream(filename: str, **options: object) -> Stream:
    """``ffmpeg.input(filename, **options)``, opened once per call (see :class:`_Unique`); ``f`` is the format."""
    if "f" in options:
        options["format"] = options.pop("f")
    return _InputNode("input", kwargs={**options, "filename": filename}).stream()


def file_input(path: Path, kind: str | None = None, **options: object) -> Stream:
    """ffmpeg-python input for a file from a project, pinned as :func:`input_args` pins it (demuxer by
    extension, file protocol only). ``options`` are input options (``ss``, ``t``, ``stream_loop``…)."""
    fmt = demuxer_for(path, kind)
    if fmt:
        options["f"] = fmt
    return input_stream(f"file:{Path(path).resolve()}", protocol_whitelist=PROTOCOLS, **options)


def source(name: str, **options: object) -> Stream:
    """The output of source filter ``name`` with ``options`` (e.g. ``source("anullsrc", r=48000)``)."""
    return _SourceNode(name, options).stream()


def graph_args(*outputs: Stream) -> list[str]:
    """The ffmpeg arguments (without ``ffmpeg``) for the graph ending in ``outputs``.

    ffmpeg-python's ``get_args``, except that a graph made only of source filters (a slate, a
    colour card) needs no input file."""
    stream = outputs[0] if len(outputs) == 1 else ffmpeg.merge_outputs(*outputs)
    nodes, outgoing = topo_sort([stream.node])
    inputs = [n for n in nodes if isinstance(n, InputNode)]
    names = {(node, None): str(i) for i, node in enumerate(inputs)}
    filters = _ffmpeg_run._get_filter_arg([n for n in nodes if isinstance(n, FilterNode)], outgoing, names)
    args = [arg for node in inputs for arg in _ffmpeg_run._get_input_args(node)]
    if filters:
        args += ["-filter_complex", filters]
    args += [arg for n in nodes if isinstance(n, OutputNode) for arg in _ffmpeg_run._get_output_args(n, names)]
    return args + [arg for n in nodes if isinstance(n, GlobalNode) for arg in _ffmpeg_run._get_global_args(n)]


def run_graph(*outputs: Stream, what: str) -> subprocess.CompletedProcess:
    """Compile the graph ending in ``outputs`` and run it with :func:`run_ffmpeg` (logged at INFO)."""
    return run_ffmpeg(graph_args(*outputs), what=what)
