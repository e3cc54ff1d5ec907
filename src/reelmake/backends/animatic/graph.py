"""The animatic's ffmpeg command: layout, text files and the filter graph for one shot.

Pure construction, no execution: :func:`build_command` turns a :class:`ShotCard` into the
argument list for ``reelmake.media.run_ffmpeg``. The graph is built with ffmpeg-python, which
escapes every option value (file names with quotes, colons or brackets included). Every
user-supplied text reaches drawtext through a file (``textfile=`` with ``expansion=none``) so
quotes, colons, ``%`` and backslashes render literally instead of being parsed by the filter graph.
"""

from __future__ import annotations

import colorsys
import hashlib
import textwrap
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import ffmpeg
from ffmpeg.nodes import Stream

from ...ffgraph import file_input, graph_args, input_stream, source
from ...media import PROTOCOLS

AUDIO_RATE = 48_000
# A3 + E4 at about -30 dBFS peak: quiet, but a real signal every audio path downstream must carry.
_TONE = "0.02*sin(2*PI*220*t)+0.012*sin(2*PI*329.63*t)"
_AVG_GLYPH_EM = 0.56  # DejaVu Sans averages ~0.52 em per glyph in prose; round up so lines never overflow


@dataclass(frozen=True)
class Fonts:
    """Font files for drawtext; None lets ffmpeg pick its fontconfig default."""

    regular: Path | None = None
    bold: Path | None = None
    mono: Path | None = None


@dataclass(frozen=True)
class Picture:
    """A reference drawn on the card: a local file, or a remote URL shown as a placeholder."""

    label: str
    path: Path | None = None
    url: str | None = None


@dataclass(frozen=True)
class Segment:
    """A multi_prompt segment, active on frames ``[start, end)``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ShotCard:
    """Everything the animatic draws for one shot (derived only from the compiled request)."""

    shot_id: str
    prompt: str
    width: int
    height: int
    fps: Fraction
    frames: int
    sound: bool
    background: Picture | None = None  # full-frame picture; None: a colour card
    background_is_video: bool = False
    thumbs: tuple[Picture, ...] = ()
    segments: tuple[Segment, ...] = ()
    push_in: float = 0.0  # extra zoom reached on the last frame (0.06 = 6 %)
    has_drawtext: bool = True  # False on ffmpeg builds without libfreetype: picture only
    fonts: Fonts = field(default_factory=Fonts)
    take: int = 1  # drawn beside the shot id, so takes differ visibly (and byte-wise)
    still: bool = False  # one PNG frame (a generated image's stand-in): no timecode, no progress bar


def clean_text(text: str) -> str:
    """One line of printable text: whitespace runs collapsed, control characters dropped."""
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    text = " ".join(text.split())
    # Lone surrogates cannot be written as UTF-8; drawtext would refuse the file.
    return text.encode("utf-8", "replace").decode("utf-8")


def wrap(text: str, fontsize: int, width_px: int, max_lines: int) -> list[str]:
    """Wrap ``text`` to lines that fit ``width_px`` at ``fontsize``, ending in … if it is cut."""
    chars = max(8, int(width_px / (fontsize * _AVG_GLYPH_EM)))
    return textwrap.wrap(
        clean_text(text), width=chars, max_lines=max_lines, placeholder=" …", break_long_words=True
    ) or [""]


def fit(text: str, chars: int) -> str:
    """``text`` on one line of at most ``chars`` characters, cut with … when longer."""
    text = clean_text(text)
    return text if len(text) <= chars else text[: max(1, chars - 1)].rstrip() + "…"


def card_colors(shot_id: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A light and a dark colour picked by the shot id: every card distinct, and stable."""
    hue = hashlib.sha256(shot_id.encode("utf-8")).digest()[0] / 256.0
    light = colorsys.hsv_to_rgb(hue, 0.65, 0.60)
    dark = colorsys.hsv_to_rgb((hue + 0.08) % 1.0, 0.80, 0.12)
    return tuple(round(c * 255) for c in light), tuple(round(c * 255) for c in dark)  # type: ignore[return-value]


class _Graph:
    """The main video chain while the layout is drawn, and the text files it reads."""

    def __init__(self, card: ShotCard, workdir: Path) -> None:
        self.card = card
        self.workdir = workdir
        self.video: Stream | None = None  # the background, once drawn
        self._n_texts = 0

    def then(self, name: str, **options: object) -> None:
        """Append filter ``name`` to the main video chain."""
        assert self.video is not None
        self.video = self.video.filter(name, **options)

    def overlay(self, picture: Stream, x: str, y: str) -> None:
        assert self.video is not None
        self.video = ffmpeg.filter([self.video, picture], "overlay", x=x, y=y, eof_action="repeat")

    def text(self, text: str, *, font: Path | None, size: int, x: str, y: str, color: str = "white",
             box: str | None = "black@0.55", pad: int = 0, spacing: int = 0, enable: str | None = None) -> None:
        """Draw ``text`` literally (via a UTF-8 file) at ``x``/``y`` (drawtext expressions)."""
        if not self.card.has_drawtext or not text.strip():
            return
        self._n_texts += 1
        path = self.workdir / f"text{self._n_texts}.txt"
        path.write_text(text, encoding="utf-8")
        options: dict[str, object] = {"textfile": str(path), "expansion": "none", "fontsize": size,
                                      "fontcolor": color, "line_spacing": spacing, "x": x, "y": y}
        if font is not None:
            options["fontfile"] = str(font)
        if box:
            options.update(box=1, boxcolor=box, boxborderw=pad)
        if enable:
            options["enable"] = enable
        self.then("drawtext", **options)


def _square_pixels(stream: Stream) -> Stream:
    # Anamorphic sources (non-square SAR) are stretched to square pixels before any cover/fit maths;
    # for square-pixel sources scale passes frames through untouched.
    return stream.filter("scale", w="trunc(iw*sar/2)*2", h="ih").filter("setsar", sar=1)


def _image_input(path: Path, rate: str) -> Stream:
    # image2 with pattern_type none: a literal file name, even with '%' in it; file: so a ':' in
    # the name is never read as a protocol. The still's frame duration travels through the graph
    # to ffmpeg's rate sync: at image2's default 1/25 s, a 60 fps clip would gain a duplicate.
    return input_stream(f"file:{path}", f="image2", pattern_type="none", framerate=rate,
                        protocol_whitelist=PROTOCOLS)["v"]


def _push_in(card: ShotCard, still: Stream) -> Stream:
    """Fill the frame with ``still`` and slowly push in on it.

    The still is scaled once (lanczos) to the largest zoom and looped; each frame is then scaled
    down (bilinear is enough for a downscale of at most 12 %, and it runs every frame) and
    centre-cropped: a push-in without zoompan, smooth to the pixel. crop cannot see the per-frame
    input size, so its offsets repeat the zoom formula.
    """
    w, h = card.width, card.height
    zoom = f"(1+{card.push_in:.6f}*n/{max(card.frames - 1, 1)})"
    zw, zh = 2 * round(w * (1 + card.push_in) / 2), 2 * round(h * (1 + card.push_in) / 2)
    sw, sh = f"2*round({w}*{zoom}/2)", f"2*round({h}*{zoom}/2)"
    return (
        _square_pixels(still)
        .filter("scale", w=zw, h=zh, force_original_aspect_ratio="increase", flags="lanczos")
        .filter("crop", w=zw, h=zh)
        .filter("setsar", sar=1)
        .filter("format", pix_fmts="yuv420p")
        .filter("loop", loop=-1, size=1, start=0)
        .filter("settb", expr=f"{card.fps.denominator}/{card.fps.numerator}")
        .filter("setpts", expr="N")  # one tick per frame: no rounding
        .filter("scale", w=sw, h=sh, eval="frame", flags="bilinear")
        .filter("crop", w=w, h=h, x=f"({sw}-{w})/2", y=f"({sh}-{h})/2")
        # scale keeps the display aspect by changing the SAR when w and h round differently; a
        # SAR that changes between frames makes ffmpeg rebuild its output graph and duplicate one.
        .filter("setsar", sar=1)
    )


def _draw_background(g: _Graph) -> None:
    card = g.card
    w, h, rate = card.width, card.height, _rate(card)
    bg = card.background
    if bg is not None and bg.path is not None and card.background_is_video:
        video = file_input(bg.path, "video", stream_loop=-1)["v"]
        video = _square_pixels(video.filter("setpts", expr="PTS-STARTPTS").filter("fps", fps=rate))
        g.video = (video.filter("scale", w=w, h=h, force_original_aspect_ratio="increase")
                   .filter("crop", w=w, h=h).filter("setsar", sar=1).filter("format", pix_fmts="yuv420p"))
    elif bg is not None and bg.path is not None:
        g.video = _push_in(card, _image_input(bg.path, rate))
    else:
        # No local picture: a diagonal gradient in the shot's colours, light at the top left and
        # dark under the text. Drawn tiny (geq is per pixel) and scaled up, which a gradient survives.
        (r0, g0, b0), (r1, g1, b1) = card_colors(card.shot_id)
        mix = "(0.55*X/W+0.45*Y/H)"
        gradient = (source("color", c="black", s="64x36", r=rate).filter("trim", end_frame=1)
                    .filter("format", pix_fmts="rgb24")
                    .filter("geq", r=f"{r0}+({r1}-{r0})*{mix}", g=f"{g0}+({g1}-{g0})*{mix}",
                            b=f"{b0}+({b1}-{b0})*{mix}"))
        g.video = _push_in(card, gradient)


def _thumbnail(g: _Graph, thumb: Picture, tile: int) -> Stream | None:
    if thumb.path is None:
        return None
    picture = _square_pixels(_image_input(thumb.path, _rate(g.card)))
    return (picture.filter("scale", w=tile, h=tile, force_original_aspect_ratio="decrease")
            .filter("setsar", sar=1).filter("format", pix_fmts="rgba")
            .filter("pad", w=tile, h=tile, x="(ow-iw)/2", y="(oh-ih)/2", color="0x101010@0.65"))


def _draw_thumb(g: _Graph, thumb: Picture, picture: Stream | None, x: int, y: int, tile: int, fs: int,
                pad: int) -> None:
    """A reference thumbnail (or a placeholder for a remote one), framed, with its figure label."""
    fonts = g.card.fonts
    if picture is not None:
        g.overlay(picture, str(x), str(y))
    else:
        g.then("drawbox", x=x, y=y, w=tile, h=tile, color="0x202020@0.75", t="fill")
        g.text("remote", font=fonts.regular, size=fs, x=f"{x}+({tile}-tw)/2", y=f"{y}+({tile}-th)/2", box=None)
    g.then("drawbox", x=x, y=y, w=tile, h=tile, color="white@0.8", t=max(1, pad // 2))
    # "Figure 3" over the name: both stay readable however narrow the tile is.
    figure, _, name = thumb.label.partition(" · ")
    chars = max(3, int(tile / (fs * _AVG_GLYPH_EM)))
    lines = [fit(part, chars) for part in (figure, name)]
    g.text("\n".join(line for line in lines if line), font=fonts.regular, size=fs,
           x=f"{x}+({tile}-tw)/2", y=str(y + tile + 2 * pad), pad=pad, spacing=max(1, pad // 2))


@dataclass(frozen=True)
class _Layout:
    """Sizes in pixels, proportional to the short side so every aspect ratio reads the same."""

    margin: int
    pad: int
    gap: int
    fs_title: int
    fs_text: int
    fs_small: int
    bar: int
    tile: int

    @classmethod
    def for_size(cls, width: int, height: int) -> _Layout:
        s = min(width, height)
        return cls(margin=max(2, round(s * 0.045)), pad=max(1, round(s * 0.012)), gap=max(2, round(s * 0.02)),
                   fs_title=max(8, round(s * 0.058)), fs_text=max(7, round(s * 0.040)),
                   fs_small=max(6, round(s * 0.028)), bar=max(2, round(s * 0.008)), tile=max(8, round(s * 0.19)))


def _draw_thumbs(g: _Graph, lay: _Layout) -> None:
    """The other references in reading order, right-aligned rows (two at most) under the timecode."""
    thumbs, w = g.card.thumbs, g.card.width
    if not thumbs:
        return
    label_h = 2 * round(lay.fs_small * 1.25) + 3 * lay.pad
    top = lay.margin + round(lay.fs_small * 1.25) + 2 * lay.pad + lay.gap
    span = w * 0.6  # the left of the top bar belongs to the shot id
    per_row = max(1, int((span + lay.gap) // (lay.tile + lay.gap)), -(-len(thumbs) // 2))
    tile = min(lay.tile, max(8, int((span - (per_row - 1) * lay.gap) / per_row)))
    for i, thumb in enumerate(thumbs):
        row, col = divmod(i, per_row)
        in_row = min(per_row, len(thumbs) - row * per_row)
        x = w - lay.margin - in_row * tile - (in_row - 1) * lay.gap + col * (tile + lay.gap)
        y = top + row * (tile + label_h + lay.gap)
        _draw_thumb(g, thumb, _thumbnail(g, thumb, tile), x, y, tile, lay.fs_small, lay.pad)


def _draw_top(g: _Graph, lay: _Layout) -> None:
    """Shot id (left), what the picture is (under it), running SMPTE timecode (right)."""
    card, fonts = g.card, g.card.fonts
    g.text(f"{clean_text(card.shot_id)}  ·  take {card.take}", font=fonts.bold, size=lay.fs_title,
           x=str(lay.margin), y=str(lay.margin), pad=lay.pad)
    bg = card.background
    if bg is not None:
        sub_y = lay.margin + round(lay.fs_title * 1.25) + 3 * lay.pad
        g.text(clean_text(bg.label), font=fonts.regular, size=lay.fs_small, x=str(lay.margin), y=str(sub_y),
               pad=lay.pad)
        if bg.path is None:  # a remote reference: say so instead of fetching it
            lines = wrap(f"{bg.label}: {bg.url}", lay.fs_small, card.width - 4 * lay.margin, 3)
            g.text("remote reference, not fetched offline\n" + "\n".join(lines), font=fonts.regular,
                   size=lay.fs_small, x="(w-tw)/2", y="(h-th)/2", box="black@0.4", pad=2 * lay.pad,
                   spacing=lay.pad)
    if card.has_drawtext and not card.still:
        options: dict[str, object] = {
            "timecode": "00:00:00:00", "timecode_rate": _rate(card), "fontsize": lay.fs_small, "fontcolor": "white",
            "box": 1, "boxcolor": "black@0.55", "boxborderw": lay.pad, "x": f"w-tw-{lay.margin}", "y": lay.margin}
        if fonts.mono is not None:
            options["fontfile"] = str(fonts.mono)
        g.then("drawtext", **options)


CAPTION_ZONE = 0.2  # share of the height kept free at the bottom for burned captions


def _draw_lower_third(g: _Graph, lay: _Layout) -> None:
    """The compiled prompt, and above it the multi_prompt segment playing now."""
    card, fonts = g.card, g.card.fonts
    # The bottom fifth stays clear: deliverables burn captions there (the editor's title-safe zone).
    bottom = lay.bar + max(lay.margin, round(card.height * CAPTION_ZONE))
    width = card.width - 2 * lay.margin - 2 * lay.pad
    spacing = max(1, round(lay.fs_text * 0.3))
    max_lines = max(2, min(6, int(card.height * 0.28 / (lay.fs_text * 1.2 + spacing))))
    lines = wrap(card.prompt, lay.fs_text, width, max_lines) if card.prompt.strip() else []
    g.text("\n".join(lines), font=fonts.regular, size=lay.fs_text, x=str(lay.margin),
           y=f"h-th-{bottom + lay.pad}", pad=2 * lay.pad, spacing=spacing)
    prompt_h = len(lines) * lay.fs_text + max(0, len(lines) - 1) * spacing + 4 * lay.pad if lines else 0
    for i, seg in enumerate(card.segments, 1):
        seg_lines = wrap(f"▶ {i}/{len(card.segments)}  {seg.text}", lay.fs_text, width, 2)
        g.text("\n".join(seg_lines), font=fonts.bold, size=lay.fs_text, color="0xffd54a", x=str(lay.margin),
               y=f"h-th-{bottom + prompt_h + lay.gap + lay.pad}", pad=lay.pad, spacing=spacing,
               enable=f"between(n,{seg.start},{seg.end - 1})")


def _draw_progress(g: _Graph, lay: _Layout) -> None:
    """A bar along the bottom edge: a full-width strip sliding in from the left, frame by frame."""
    w, h = g.card.width, g.card.height
    g.then("drawbox", x=0, y=h - lay.bar, w=w, h=lay.bar, color="black@0.5", t="fill")
    bar = source("color", c="white", s=f"{w}x{lay.bar}", r=_rate(g.card)).filter("trim", end_frame=1)
    g.overlay(bar, f"-{w}+{w}*(n+1)/{g.card.frames}", str(h - lay.bar))


def _tone_bed(card: ShotCard) -> Stream:
    """The audio chain: the quiet chord, faded at both ends so cuts never click, sample-exact."""
    seconds = Fraction(card.frames) / card.fps
    fade = min(0.05, float(seconds) / 4)
    return (
        source("aevalsrc", exprs=f"{_TONE}|{_TONE}", c="stereo", s=AUDIO_RATE, d=f"{float(seconds):.6f}")
        .filter("afade", t="in", d=f"{fade:.4f}")
        .filter("afade", t="out", st=f"{float(seconds) - fade:.6f}", d=f"{fade:.4f}")
        .filter("atrim", end_sample=round(seconds * AUDIO_RATE))
    )


def _rate(card: ShotCard) -> str:
    return f"{card.fps.numerator}/{card.fps.denominator}"


def _compose(card: ShotCard, workdir: Path) -> Stream:
    g = _Graph(card, workdir)
    lay = _Layout.for_size(card.width, card.height)
    _draw_background(g)
    _draw_thumbs(g, lay)  # before the texts, so a long shot id stays readable over them
    _draw_top(g, lay)
    _draw_lower_third(g, lay)
    if not card.still:
        _draw_progress(g, lay)
    assert g.video is not None
    return g.video


def build_still_command(card: ShotCard, workdir: Path, dest: Path) -> list[str]:
    """The ffmpeg arguments writing ``card`` (``still``) as one PNG into ``dest``; bit-exact flags keep
    the file the same bytes for the same card and ffmpeg, so what is made from it keeps its key."""
    video = _compose(card, workdir).filter("trim", end_frame=1).filter("format", pix_fmts="rgb24")
    return graph_args(ffmpeg.output(video, str(dest), format="image2", vcodec="png", frames=1, update=1,
                                    map_metadata=-1, fflags="+bitexact", flags="+bitexact"))


def build_command(card: ShotCard, workdir: Path, dest: Path) -> list[str]:
    """The ffmpeg arguments (without ``ffmpeg``) rendering ``card`` into ``dest`` (mp4).

    Text files are written into ``workdir``, which must outlive the ffmpeg run.
    """
    composed = _compose(card, workdir)
    # End the picture inside the graph rather than with -frames:v, which stops the whole output
    # when the last video frame is muxed and cuts the audio bed short. Then stamp frame i at i/fps
    # exactly, so the output's constant-rate sync has nothing to duplicate or drop.
    video = (composed.filter("trim", end_frame=card.frames)
             .filter("settb", expr=f"{card.fps.denominator}/{card.fps.numerator}")
             .filter("setpts", expr="N").filter("format", pix_fmts="yuv420p"))
    streams = [video, _tone_bed(card)] if card.sound else [video]
    options: dict[str, object] = {"r": _rate(card), "c:v": "libx264", "preset": "ultrafast", "crf": 23,
                                  "pix_fmt": "yuv420p", "map_metadata": -1, "movflags": "+faststart"}
    if card.sound:
        options.update({"c:a": "aac", "b:a": "128k", "ar": AUDIO_RATE, "ac": 2})
    return graph_args(ffmpeg.output(*streams, str(dest), format="mp4", **options))
