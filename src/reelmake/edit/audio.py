"""The soundtrack: shot audio plus beds on the timeline, ducking, and two-pass EBU R128 loudness.

Pass one reads each shot's audio straight from its clip (sample-exact on the timeline, cross-faded
under transitions), mixes in the beds and renders a float WAV (no clipping, whatever the sum) while
ebur128 measures it; the final mux applies a plain gain when the true-peak ceiling allows (linear),
else loudnorm's gain through a true-peak limiter; then :func:`measure` reads the delivered file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
from ffmpeg.nodes import Stream

from ..errors import MediaError
from ..ffgraph import file_input, input_stream, run_graph, source
from ..media import probe
from .encode import SAMPLE_RATE, samples_at
from .spec import CutSpec
from .timeline import Placement, bed_start, fps_fraction

# AAC encoding overshoots true peak by a few tenths of a dB; aim under the ceiling by this much.
TP_MARGIN = 0.5
SILENCE_LUFS = -70.0  # the EBU R128 absolute gate: anything quieter is silence

# Sidechain compression of ducked beds: ~-30 dBFS threshold, strong ratio, speech-friendly release.
DUCK = {"threshold": 0.03, "ratio": 8, "attack": 20, "release": 400}


@dataclass(frozen=True)
class Loudness:
    """An EBU R128 measurement (ebur128's summary)."""

    integrated: float  # LUFS
    threshold: float  # the relative gate of the integrated measurement, LUFS
    lra: float  # loudness range, LU
    true_peak: float  # dBTP

    @property
    def silent(self) -> bool:
        return self.integrated <= SILENCE_LUFS


def _num(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("-inf")  # ebur128 prints "-inf" for a silent peak


def _summary(stderr: str) -> Loudness:
    summary = stderr[stderr.rfind("Summary:") :]
    found = {name: pattern.search(summary) for name, pattern in _SUMMARY.items()}
    if not all(found.values()):
        raise MediaError(f"ebur128 printed no loudness summary:\n{summary[-800:]}")
    return Loudness(**{name: _num(match.group(1)) for name, match in found.items()})


_VALUE = r"(-?[\d.]+|-?inf)"
_SUMMARY = {
    "integrated": re.compile(rf"I:\s+{_VALUE}\s+LUFS"),
    "threshold": re.compile(rf"I:.*?\n\s*Threshold:\s+{_VALUE}\s+LUFS"),
    "lra": re.compile(rf"LRA:\s+{_VALUE}\s+LU"),
    "true_peak": re.compile(rf"Peak:\s+{_VALUE}\s+dBFS"),
}


def _stereo(stream: Stream) -> Stream:
    return stream.filter("aformat", sample_fmts="fltp", sample_rates=SAMPLE_RATE, channel_layouts="stereo")


def _bed(spec: CutSpec, index: int, total: float) -> Stream | None:
    bed = spec.beds[index]
    start = bed_start(spec, index)
    if start >= total:
        return None
    span = total - start
    if not bed.loop:
        span = min(span, probe(Path(bed.path)).duration)
    audio = file_input(Path(bed.path), "audio", **({"stream_loop": -1} if bed.loop else {}))["a:0"]
    audio = (_stereo(audio).filter("atrim", duration=f"{span:.6f}").filter("asetpts", expr="N/SR/TB")
             .filter("volume", volume=f"{bed.volume_db:.3f}dB"))
    if bed.fade_in > 0:
        audio = audio.filter("afade", t="in", d=f"{min(bed.fade_in, span):.6f}")
    if bed.fade_out > 0:
        fade = min(bed.fade_out, span)
        audio = audio.filter("afade", t="out", st=f"{span - fade:.6f}", d=f"{fade:.6f}")
    return audio.filter("adelay", delays=f"{round(start * SAMPLE_RATE)}S", all=1)


def _mix(streams: list[Stream]) -> Stream:
    if len(streams) == 1:
        return streams[0]
    # normalize=0: volumes mean what the storyboard says; loudnorm sets the final level.
    return ffmpeg.filter(streams, "amix", inputs=len(streams), duration="longest", normalize=0)


def _pad(stream: Stream, samples: int) -> Stream:
    return stream.filter("apad", whole_len=samples).filter("atrim", end_sample=samples).filter("asetpts", expr="N/SR/TB")


def shot_audio(spec: CutSpec, placements: list[Placement], trims: list[int], has_audio: list[bool]) -> Stream:
    """Every shot's audio on the timeline: read from its clip at its trim, exactly as many samples
    as its frames, cross-faded (triangular) where a transition overlaps two shots; silence for a shot
    without audio or a slate."""
    fps = spec.deliverable.fps
    runs: list[Stream] = []
    for index, (clip, p) in enumerate(zip(spec.clips, placements, strict=True)):
        samples = samples_at(p.end, fps) - samples_at(p.start, fps)
        if clip.path is not None and has_audio[index]:
            options: dict[str, object] = {"t": f"{samples / SAMPLE_RATE + 1.0:.6f}"}
            if trims[index]:
                options["ss"] = f"{float(trims[index] / fps_fraction(fps)):.6f}"
            audio = file_input(Path(clip.path), "video", **options)["a:0"].filter("asetpts", expr="PTS-STARTPTS")
        else:
            audio = source("anullsrc", r=SAMPLE_RATE, cl="stereo")
        audio = _stereo(audio).filter("apad").filter("atrim", end_sample=samples).filter("asetpts", expr="N/SR/TB")
        if index and p.transition_frames:
            overlap = samples_at(placements[index - 1].end, fps) - samples_at(p.start, fps)
            runs[-1] = ffmpeg.filter([runs[-1], audio], "acrossfade", ns=overlap, c1="tri", c2="tri")
        else:
            runs.append(audio)
    return runs[0] if len(runs) == 1 else ffmpeg.concat(*runs, v=0, a=1)


def premix(spec: CutSpec, placements: list[Placement], trims: list[int], *, has_audio: list[bool], samples: int,
           dest: Path) -> Loudness:
    """Render the timeline's soundtrack to ``dest`` (float WAV, exactly ``samples`` long) and measure it."""
    total = samples / SAMPLE_RATE
    keys: list[Stream] = []
    ducked: list[Stream] = []
    if spec.mix.shot_audio:
        keys.append(_pad(shot_audio(spec, placements, trims, has_audio), samples))
    for index, bed in enumerate(spec.beds):
        audio = _bed(spec, index, total)
        if audio is not None:
            (ducked if bed.duck else keys).append(_pad(audio, samples))
    if ducked and keys:
        key1, key2 = _split(_mix(keys))
        ducked_bus = ffmpeg.filter([_mix(ducked), key1], "sidechaincompress", **DUCK)
        mix = ffmpeg.filter([ducked_bus, key2], "amix", inputs=2, duration="longest", normalize=0)
    elif ducked or keys:
        mix = _mix(ducked + keys)
    else:  # nothing audible: a silent track of the right length
        mix = _pad(source("anullsrc", r=SAMPLE_RATE, cl="stereo"), samples)
    out, measured = _split(mix)
    proc = run_graph(out.output(str(dest), format="wav", **{"c:a": "pcm_f32le"}),
                     measured.filter("ebur128", peak="true").output("-", format="null"),
                     what="mixing the soundtrack")
    return _summary(proc.stderr)


def _split(stream: Stream) -> tuple[Stream, Stream]:
    branches = stream.filter_multi_output("asplit")
    return branches[0], branches[1]


def normalized(audio: Stream, spec: CutSpec, measured: Loudness, samples: int, margin: float = TP_MARGIN,
               boost: float = 0.0) -> tuple[Stream, str | None]:
    """``audio`` (the premix) brought to the target loudness for the final mux, and how: linear,
    limited, or None (silent).

    Linear when a plain gain reaches the target without crossing the true-peak ceiling; that is
    what loudnorm's ``linear=true`` would do, applied as ``volume`` because loudnorm would still
    resample to 192 kHz and back. Otherwise the same gain through a true-peak limiter.
    """
    mode: str | None = None
    if not measured.silent:
        ceiling = spec.mix.true_peak - margin
        gain = spec.mix.loudness - measured.integrated + boost  # boost: loudness the limiter took, made up
        audio = audio.filter("volume", volume=f"{gain:.3f}dB")
        mode = "linear"
        if boost or measured.true_peak + gain > ceiling:
            # The gain would push peaks over the ceiling: apply it anyway and catch the peaks with a
            # brickwall limiter run at 192 kHz, so it limits true (inter-sample) peaks. loudnorm's dynamic
            # mode was the first choice, but on short spots with peaky voice-over it lands 2 LU under target.
            audio = (audio.filter("aresample", osr=192000)
                     .filter("alimiter", limit=f"{10 ** (ceiling / 20):.5f}", attack=1, release=50, level="false"))
            mode = "limited"
    return audio.filter("aresample", osr=SAMPLE_RATE).filter("atrim", end_sample=samples), mode


def measure(path: Path) -> tuple[float | None, float | None]:
    """Integrated loudness (LUFS) and true peak (dBTP) of ``path``'s audio, measured by ebur128.

    None for silence (below the absolute gate) or when there is no audio.
    """
    audio = input_stream(str(path))["a:0"].filter("ebur128", peak="true")
    proc = run_graph(audio.output("-", format="null"), what=f"measuring loudness of {path.name}")
    result = _summary(proc.stderr)
    if result.silent:
        return None, None
    return result.integrated, result.true_peak
