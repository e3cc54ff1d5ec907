"""The soundtrack: shot audio plus beds on the timeline, ducking, and two-pass EBU R128 loudness.

Pass one renders the mix to a float WAV (no clipping, whatever the sum) while ebur128 measures
it; the final mux applies a plain gain when the true-peak ceiling allows (linear), else loudnorm's
gain through a true-peak limiter; then :func:`measure` reads the delivered file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import MediaError
from ..media import probe, run_ffmpeg
from .encode import SAMPLE_RATE
from .spec import CutSpec
from .timeline import bed_start

# AAC encoding overshoots true peak by a few tenths of a dB; aim under the ceiling by this much.
TP_MARGIN = 0.5
SILENCE_LUFS = -70.0  # the EBU R128 absolute gate: anything quieter is silence

# Sidechain compression of ducked beds: ~-30 dBFS threshold, strong ratio, speech-friendly release.
DUCK = "threshold=0.03:ratio=8:attack=20:release=400"


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


def _bed_chain(spec: CutSpec, index: int, input_index: int, total: float) -> str | None:
    bed = spec.beds[index]
    start = bed_start(spec, index)
    if start >= total:
        return None
    span = total - start
    if not bed.loop:
        span = min(span, probe(Path(bed.path)).duration)
    chain = [
        f"[{input_index}:a]aformat=sample_fmts=fltp:sample_rates={SAMPLE_RATE}:channel_layouts=stereo",
        f"atrim=duration={span:.6f}",
        "asetpts=N/SR/TB",
        f"volume={bed.volume_db:.3f}dB",
    ]
    if bed.fade_in > 0:
        chain.append(f"afade=t=in:d={min(bed.fade_in, span):.6f}")
    if bed.fade_out > 0:
        fade = min(bed.fade_out, span)
        chain.append(f"afade=t=out:st={span - fade:.6f}:d={fade:.6f}")
    chain.append(f"adelay=delays={round(start * SAMPLE_RATE)}S:all=1")
    return ",".join(chain)


def _mix(labels: list[str], out: str) -> str:
    if len(labels) == 1:
        return f"{labels[0]}anull{out}"
    # normalize=0: volumes mean what the storyboard says; loudnorm sets the final level.
    return f"{''.join(labels)}amix=inputs={len(labels)}:duration=longest:normalize=0{out}"


def premix(spec: CutSpec, shot_audio: list[str], samples: int, dest: Path) -> Loudness:
    """Render the timeline's soundtrack to ``dest`` (float WAV, exactly ``samples`` long) and measure it.

    ``shot_audio``: input arguments whose first audio stream is the joined shot audio.
    """
    total = samples / SAMPLE_RATE
    args = list(shot_audio)
    graph: list[str] = []
    pad = f"apad=whole_len={samples},atrim=end_sample={samples}"
    gain = "" if spec.mix.shot_audio else "volume=0,"
    graph.append(f"[0:a]aformat=sample_fmts=fltp:channel_layouts=stereo,{gain}{pad},asetpts=N/SR/TB[shot]")
    keys, ducked = ["[shot]"] if spec.mix.shot_audio else [], []
    for index, bed in enumerate(spec.beds):
        chain = _bed_chain(spec, index, 1 + index, total)  # input 0 is the shot audio
        if bed.loop:
            args += ["-stream_loop", "-1"]
        args += ["-i", str(bed.path)]
        if chain is None:
            continue
        label = f"[bed{index}]"
        graph.append(f"{chain},{pad}{label}")
        (ducked if bed.duck else keys).append(label)
    if not (ducked or keys):
        graph.append("[shot]anull[mix]")  # nothing audible: a silent track of the right length
    elif not spec.mix.shot_audio:
        graph.append("[shot]anullsink")
    if ducked and keys:
        graph.append(_mix(ducked, "[duckbus]"))
        graph.append(_mix(keys, "[keybus]"))
        graph.append("[keybus]asplit=2[key1][key2]")
        graph.append(f"[duckbus][key1]sidechaincompress={DUCK}[ducked]")
        graph.append("[ducked][key2]amix=inputs=2:duration=longest:normalize=0[mix]")
    elif ducked or keys:
        graph.append(_mix(ducked + keys, "[mix]"))
    graph.append("[mix]asplit=2[out][m];[m]ebur128=peak=true[measure]")
    proc = run_ffmpeg(
        [*args, "-filter_complex", ";".join(graph), "-map", "[out]", "-c:a", "pcm_f32le", "-f", "wav", str(dest),
         "-map", "[measure]", "-f", "null", "-"],
        what="mixing the soundtrack",
    )
    return _summary(proc.stderr)


def normalize_filter(spec: CutSpec, measured: Loudness, samples: int,
                     margin: float = TP_MARGIN, boost: float = 0.0) -> tuple[str, str | None]:
    """The second-pass audio filter for the final mux and its mode (linear, limited, or None: silent).

    Linear when a plain gain reaches the target without crossing the true-peak ceiling; that is
    what loudnorm's ``linear=true`` would do, applied as ``volume`` because loudnorm would still
    resample to 192 kHz and back. Otherwise the same gain through a true-peak limiter.
    """
    tail = f"aresample={SAMPLE_RATE},atrim=end_sample={samples}"
    if measured.silent:
        return tail, None
    ceiling = spec.mix.true_peak - margin
    gain = spec.mix.loudness - measured.integrated + boost  # boost: loudness the limiter took, made up
    if not boost and measured.true_peak + gain <= ceiling:
        return f"volume={gain:.3f}dB,{tail}", "linear"
    # The gain would push peaks over the ceiling: apply it anyway and catch the peaks with a brickwall
    # limiter run at 192 kHz, so it limits true (inter-sample) peaks. loudnorm's dynamic mode was the
    # first choice, but on short spots with peaky voice-over it lands 2 LU under target.
    limit = 10 ** (ceiling / 20)
    limiter = f"aresample=192000,alimiter=limit={limit:.5f}:attack=1:release=50:level=false"
    return f"volume={gain:.3f}dB,{limiter},{tail}", "limited"


def measure(path: Path) -> tuple[float | None, float | None]:
    """Integrated loudness (LUFS) and true peak (dBTP) of ``path``'s audio, measured by ebur128.

    None for silence (below the absolute gate) or when there is no audio.
    """
    proc = run_ffmpeg(
        ["-i", str(path), "-map", "0:a:0", "-af", "ebur128=peak=true", "-f", "null", "-"],
        what=f"measuring loudness of {path.name}",
    )
    result = _summary(proc.stderr)
    if result.silent:
        return None, None
    return result.integrated, result.true_peak
