"""The animatic's ffmpeg command: layout, text files and the filter graph for one shot.

Pure construction, no execution: :func:`build_command` turns a :class:`ShotCard` into the
argument list for ``reelmake.media.run_ffmpeg``. Every user-supplied text reaches drawtext
through a file (``textfile=`` with ``expansion=none``) so quotes, colons, ``%`` and backslashes
render literally instead of being parsed by the filter graph.
"""

from __future__ import annotations

import colorsys
import hashlib
import textwrap
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

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


def escape_option(value: str) -> str:
    """Escape ``value`` for use as a filter option inside ``-filter_complex``.

    Two levels, as the ffmpeg-filters manual describes: the option value (``\\ ' :``), then
    the filter graph (``\\ ' [ ] , ;``).
    """
    value = "".join("\\" + ch if ch in "\\':" else ch for ch in value)
    return "".join("\\" + ch if ch in "\\'[],;" else ch for ch in value)


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
    """Accumulates inputs, filter chains and text files while the layout is drawn."""

    def __init__(self, card: ShotCard, workdir: Path) -> None:
        self.card = card
        self.workdir = workdir
        self.inputs: list[str] = []
        self.chains: list[str] = []
        self.label = "bg"
        self._n_inputs = 0
        self._n_labels = 0
        self._n_texts = 0

    def add_input(self, args: list[str]) -> int:
        self.inputs += args
        self._n_inputs += 1
        return self._n_inputs - 1

    def then(self, filters: str) -> None:
        """Append ``filters`` to the main video chain."""
        self._n_labels += 1
        new = f"v{self._n_labels}"
        self.chains.append(f"[{self.label}]{filters}[{new}]")
        self.label = new

    def overlay(self, source: str, x: str, y: str) -> None:
        self._n_labels += 1
        new = f"v{self._n_labels}"
        self.chains.append(f"[{self.label}][{source}]overlay=x={x}:y={y}:eof_action=repeat[{new}]")
        self.label = new

    def text(self, text: str, *, font: Path | None, size: int, x: str, y: str, color: str = "white",
             box: str | None = "black@0.55", pad: int = 0, spacing: int = 0, enable: str | None = None) -> None:
        """Draw ``text`` literally (via a UTF-8 file) at ``x``/``y`` (drawtext expressions)."""
        if not self.card.has_drawtext or not text.strip():
            return
        self._n_texts += 1
        path = self.workdir / f"text{self._n_texts}.txt"
        path.write_text(text, encoding="utf-8")
        opts = [f"textfile={escape_option(str(path))}", "expansion=none", f"fontsize={size}",
                f"fontcolor={color}", f"line_spacing={spacing}", f"x={x}", f"y={y}"]
        if font is not None:
            opts.insert(0, f"fontfile={escape_option(str(font))}")
        if box:
            opts += ["box=1", f"boxcolor={box}", f"boxborderw={pad}"]
        if enable:
            opts.append(f"enable='{enable}'")
        self.then("drawtext=" + ":".join(opts))


# Anamorphic sources (non-square SAR) are stretched to square pixels before any cover/fit maths;
# for square-pixel sources scale passes frames through untouched.
_SQUARE_PIXELS = "scale='trunc(iw*sar/2)*2':ih,setsar=1"


def _image_input(path: Path, rate: str) -> list[str]:
    # image2 with pattern_type none: a literal file name, even with '%' in it; file: so a ':' in
    # the name is never read as a protocol. The still's frame duration travels through the graph
    # to ffmpeg's rate sync: at image2's default 1/25 s, a 60 fps clip would gain a duplicate.
    return ["-f", "image2", "-pattern_type", "none", "-framerate", rate, "-i", f"file:{path}"]


def _push_in(g: _Graph, source: str) -> None:
    """Fill the frame with the still ``source`` and slowly push in on it, as the ``bg`` label.

    The still is scaled once (lanczos) to the largest zoom and looped; each frame is then scaled
    down (bilinear is enough for a downscale of at most 12 %, and it runs every frame) and
    centre-cropped: a push-in without zoompan, smooth to the pixel. crop cannot see the per-frame
    input size, so its offsets repeat the zoom formula.
    """
    card = g.card
    w, h = card.width, card.height
    zoom = f"(1+{card.push_in:.6f}*n/{max(card.frames - 1, 1)})"
    zw, zh = 2 * round(w * (1 + card.push_in) / 2), 2 * round(h * (1 + card.push_in) / 2)
    sw, sh = f"2*round({w}*{zoom}/2)", f"2*round({h}*{zoom}/2)"
    g.chains.append(
        f"[{source}]{_SQUARE_PIXELS},scale={zw}:{zh}:force_original_aspect_ratio=increase:flags=lanczos,"
        f"crop={zw}:{zh},"
        f"setsar=1,format=yuv420p,loop=loop=-1:size=1:start=0,"
        f"settb={card.fps.denominator}/{card.fps.numerator},setpts=N,"  # one tick per frame: no rounding
        f"scale=w='{sw}':h='{sh}':eval=frame:flags=bilinear,crop={w}:{h}:x='({sw}-{w})/2':y='({sh}-{h})/2',"
        # scale keeps the display aspect by changing the SAR when w and h round differently; a
        # SAR that changes between frames makes ffmpeg rebuild its output graph and duplicate one.
        f"setsar=1[bg]"
    )


def _draw_background(g: _Graph) -> None:
    card = g.card
    w, h, rate = card.width, card.height, _rate(card)
    bg = card.background
    if bg is not None and bg.path is not None and card.background_is_video:
        idx = g.add_input(["-stream_loop", "-1", "-i", f"file:{bg.path}"])
        g.chains.append(
            f"[{idx}:v]setpts=PTS-STARTPTS,fps={rate},{_SQUARE_PIXELS},"
            f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1,format=yuv420p[bg]"
        )
    elif bg is not None and bg.path is not None:
        _push_in(g, f"{g.add_input(_image_input(bg.path, rate))}:v")
    else:
        # No local picture: a diagonal gradient in the shot's colours, light at the top left and
        # dark under the text. Drawn tiny (geq is per pixel) and scaled up, which a gradient survives.
        (r0, g0, b0), (r1, g1, b1) = card_colors(card.shot_id)
        mix = "(0.55*X/W+0.45*Y/H)"
        g.chains.append(
            f"color=c=black:s=64x36:r={rate},trim=end_frame=1,format=rgb24,"
            f"geq=r='{r0}+({r1}-{r0})*{mix}':g='{g0}+({g1}-{g0})*{mix}':b='{b0}+({b1}-{b0})*{mix}'[card]"
        )
        _push_in(g, "card")


def _draw_thumb(g: _Graph, thumb: Picture, x: int, y: int, tile: int, fs: int, pad: int) -> None:
    """A reference thumbnail (or a placeholder for a remote one), framed, with its figure label."""
    fonts = g.card.fonts
    if thumb.path is not None:
        idx = g.add_input(_image_input(thumb.path, _rate(g.card)))
        g.chains.append(
            f"[{idx}:v]{_SQUARE_PIXELS},scale={tile}:{tile}:force_original_aspect_ratio=decrease,setsar=1,format=rgba,"
            f"pad={tile}:{tile}:(ow-iw)/2:(oh-ih)/2:color=0x101010@0.65[t{idx}]"
        )
        g.overlay(f"t{idx}", str(x), str(y))
    else:
        g.then(f"drawbox=x={x}:y={y}:w={tile}:h={tile}:color=0x202020@0.75:t=fill")
        g.text("remote", font=fonts.regular, size=fs, x=f"{x}+({tile}-tw)/2", y=f"{y}+({tile}-th)/2", box=None)
    g.then(f"drawbox=x={x}:y={y}:w={tile}:h={tile}:color=white@0.8:t={max(1, pad // 2)}")
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
        _draw_thumb(g, thumb, x, y, tile, lay.fs_small, lay.pad)


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
    if card.has_drawtext:
        tc = ["timecode='00\\:00\\:00\\:00'", f"timecode_rate={_rate(card)}", f"fontsize={lay.fs_small}",
              "fontcolor=white", "box=1", "boxcolor=black@0.55", f"boxborderw={lay.pad}",
              f"x=w-tw-{lay.margin}", f"y={lay.margin}"]
        if fonts.mono is not None:
            tc.insert(0, f"fontfile={escape_option(str(fonts.mono))}")
        g.then("drawtext=" + ":".join(tc))


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
    g.then(f"drawbox=x=0:y={h - lay.bar}:w={w}:h={lay.bar}:color=black@0.5:t=fill")
    g.chains.append(f"color=c=white:s={w}x{lay.bar}:r={_rate(g.card)},trim=end_frame=1[bar]")
    g.overlay("bar", f"'-{w}+{w}*(n+1)/{g.card.frames}'", str(h - lay.bar))


def _tone_bed(card: ShotCard) -> str:
    """The audio chain: the quiet chord, faded at both ends so cuts never click, sample-exact."""
    seconds = Fraction(card.frames) / card.fps
    fade = min(0.05, float(seconds) / 4)
    return (
        f"aevalsrc=exprs='{_TONE}|{_TONE}':c=stereo:s={AUDIO_RATE}:d={float(seconds):.6f},"
        f"afade=t=in:d={fade:.4f},afade=t=out:st={float(seconds) - fade:.6f}:d={fade:.4f},"
        f"atrim=end_sample={round(seconds * AUDIO_RATE)}[aout]"
    )


def _rate(card: ShotCard) -> str:
    return f"{card.fps.numerator}/{card.fps.denominator}"


def build_command(card: ShotCard, workdir: Path, dest: Path) -> list[str]:
    """The ffmpeg arguments (without ``ffmpeg``) rendering ``card`` into ``dest`` (mp4).

    Text files are written into ``workdir``, which must outlive the ffmpeg run.
    """
    g = _Graph(card, workdir)
    lay = _Layout.for_size(card.width, card.height)
    _draw_background(g)
    _draw_thumbs(g, lay)  # before the texts, so a long shot id stays readable over them
    _draw_top(g, lay)
    _draw_lower_third(g, lay)
    _draw_progress(g, lay)
    # End the picture inside the graph rather than with -frames:v, which stops the whole output
    # when the last video frame is muxed and cuts the audio bed short. Then stamp frame i at i/fps
    # exactly, so the output's constant-rate sync has nothing to duplicate or drop.
    graph = [*g.chains, f"[{g.label}]trim=end_frame={card.frames},settb={card.fps.denominator}/{card.fps.numerator},"
                        f"setpts=N,format=yuv420p[vout]"]
    maps = ["-map", "[vout]"]
    if card.sound:
        graph.append(_tone_bed(card))
        maps += ["-map", "[aout]"]
    args = [*g.inputs, "-filter_complex", ";".join(graph), *maps, "-r", _rate(card),
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-pix_fmt", "yuv420p"]
    if card.sound:
        args += ["-c:a", "aac", "-b:a", "128k", "-ar", str(AUDIO_RATE), "-ac", "2"]
    return [*args, "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", str(dest)]
