"""Cut one deliverable: normalise clips, join them, mix and normalise the audio, mux, report.

Passes per deliverable: one encode per changed clip (cached), one per run of transitions
(cached), an audio-only mix, and a final mux that stream-copies the video.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import MediaError, StoryboardError
from ..fsutil import atomic_path, sha256_file
from ..media import probe, run_ffmpeg
from . import audio, captions, report
from .encode import Encoding, samples_for_frames
from .join import Piece, concat_input, join_run, write_concat_list
from .normalize import clip_key, intermediate
from .report import CutReport, ShotReport
from .spec import ClipSpec, CutSpec
from .timeline import TRANSITIONS, groups, place, total_frames

log = logging.getLogger("reelmake.edit")


def cut(
    spec: CutSpec,
    out_path: Path,
    *,
    work_dir: Path,
    draft: bool = False,
    partial: bool = False,
    jobs: int | None = None,
) -> CutReport:
    """Cut ``spec`` into ``out_path`` (mp4) with its poster, caption sidecars and JSON report beside it.

    ``work_dir`` caches normalised intermediates (shareable between processes). When the output
    and its report already match everything that decides the result, nothing is touched and the
    report comes back with ``reused=True``. Missing clips raise :class:`MediaError` unless
    ``partial``, which puts a slate of the right length in their place.
    """
    out_path, work_dir = Path(out_path), Path(work_dir)
    spec = _with_slates(spec, partial)
    check(spec)
    key = report.cut_key(spec, draft=draft)
    existing = report.current(out_path, key)
    if existing is not None:
        log.info("%s is up to date", out_path)
        return existing

    enc = Encoding.for_deliverable(spec.deliverable, draft=draft)
    placements = place(spec, enc.fps)
    workers = max(1, min(len(spec.clips), jobs or os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        made = list(pool.map(lambda clip: intermediate(clip, enc, work_dir), spec.clips))
        built = [clip.shot_id for clip, (_, fresh) in zip(spec.clips, made, strict=True) if fresh]
        runs = []
        for members in groups(spec):
            runs.append([
                Piece(made[i][0], clip_key(spec.clips[i], enc), placements[i].frames,
                      spec.clips[i].transition.type if spec.clips[i].transition else None,
                      placements[i].transition_frames if i != members[0] else 0)
                for i in members
            ])
        joined = list(pool.map(lambda run: join_run(run, enc, work_dir), runs))

    n_frames = total_frames(spec, enc.fps)
    samples = samples_for_frames(n_frames, enc.fps)
    scratch_root = work_dir / "tmp"
    scratch_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_root) as scratch:
        listing = write_concat_list([path for path, _ in joined], Path(scratch) / "timeline.ffconcat")
        mix_path = Path(scratch) / "mix.wav"
        measured = audio.premix(spec, concat_input(listing), samples, mix_path)
        with atomic_path(out_path, suffix=".mp4") as tmp:
            normalization, loudness = _mux(spec, listing, mix_path, measured, samples, tmp)
    return _finish(spec, out_path, enc, key, draft, normalization, loudness, built)


ATTEMPTS = 5  # muxes at most: the audio is re-encoded, the video only copied


def _mux(spec: CutSpec, listing: Path, mix_path: Path, measured: audio.Loudness, samples: int,
         dest: Path) -> tuple[str | None, tuple[float | None, float | None]]:
    """Mux the copied video with the normalised, AAC-encoded mix into ``dest``; measure the result.

    AAC can overshoot the true peak a little more than the margin allows on sharp transients;
    when the delivered file crosses the ceiling, mux again with the margin widened by the excess.
    Limiting loses loudness (more the harder it works): when the result lands under the target,
    mux again with the shortfall added to the gain.
    """
    margin, boost = audio.TP_MARGIN, 0.0
    previous: tuple[float, float] | None = None  # (boost, loudness) of the last attempt
    for attempt in range(ATTEMPTS):
        audio_filter, normalization = audio.normalize_filter(spec, measured, samples, margin, boost)
        run_ffmpeg(
            [*concat_input(listing), "-i", str(mix_path), "-map", "0:v:0", "-map", "1:a:0",
             "-c:v", "copy", "-tag:v", "avc1",
             "-af", audio_filter,
             "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2",
             "-map_metadata", "-1", "-metadata", f"title={spec.title}",
             "-movflags", "+faststart", "-f", "mp4", str(dest)],
            what=f"muxing {dest.name}",
        )
        loudness, peak = audio.measure(dest)
        over = peak is not None and peak > spec.mix.true_peak
        short = normalization == "limited" and loudness is not None and loudness < spec.mix.loudness - 0.5
        if not (over or short) or attempt == ATTEMPTS - 1:
            return normalization, (loudness, peak)
        if over:
            log.info("true peak %.1f dBTP over the %.1f ceiling after AAC; muxing again", peak, spec.mix.true_peak)
            margin += peak - spec.mix.true_peak + 0.1
        else:
            log.info("%.1f LUFS after limiting, under the %.1f target; muxing again", loudness, spec.mix.loudness)
            # Under a limiter loudness grows slower than gain: step by the slope seen so far (secant).
            slope = 1.0
            if previous is not None and boost != previous[0]:
                slope = min(1.0, max(0.1, (loudness - previous[1]) / (boost - previous[0])))
            previous = (boost, loudness)
            boost += min(12.0, (spec.mix.loudness - loudness) / slope)
    raise AssertionError("unreachable")


def check(spec: CutSpec) -> None:
    """Reject specs ffmpeg cannot cut, naming the shot and the fix."""
    if not spec.clips:
        raise StoryboardError(f"{spec.title}: nothing to cut (no shots)")
    fps = spec.deliverable.fps
    placements = place(spec)
    shot_ids = {c.shot_id for c in spec.clips}
    for bed in spec.beds:
        if bed.at is not None and bed.at not in shot_ids:
            raise StoryboardError(f"soundtrack item {bed.name}: at names shot {bed.at!r}, which is not in this cut")
        if not Path(bed.path).is_file():
            raise MediaError(
                f"soundtrack item {bed.name}: {bed.path} does not exist; restore the file or remove the item"
            )
    for index, clip in enumerate(spec.clips):
        if clip.length <= 0:
            raise StoryboardError(f"shot {clip.shot_id}: trimmed length is {clip.length:g} s; fix its trim")
        if clip.transition is None:
            continue
        if clip.transition.type not in TRANSITIONS:
            raise StoryboardError(
                f"shot {clip.shot_id}: unknown transition {clip.transition.type!r}; use one of "
                + ", ".join(TRANSITIONS)
            )
        t = placements[index].transition_frames
        if index and t and (t >= placements[index].frames or t >= placements[index - 1].frames):
            raise StoryboardError(
                f"shot {clip.shot_id}: transition of {t / fps:g} s is not shorter than both shots it joins; "
                "shorten the transition"
            )


def _with_slates(spec: CutSpec, partial: bool) -> CutSpec:
    # The intermediate cache is keyed by content: hash a clip the caller did not hash.
    spec = dataclasses.replace(spec, clips=tuple(
        dataclasses.replace(c, sha256=sha256_file(Path(c.path)))
        if c.sha256 is None and c.path is not None and Path(c.path).is_file() else c
        for c in spec.clips
    ))
    missing = [c for c in spec.clips if c.path is None or not Path(c.path).is_file()]
    if not missing:
        return spec
    if not partial:
        names = ", ".join(f"{c.shot_id} ({c.status if c.path is None else 'file gone'})" for c in missing)
        raise MediaError(
            f"{spec.title}: cannot cut {spec.deliverable.name}: no clip for shot(s) {names}. "
            "Render them first (`reelmake render`), or cut with --partial to put a slate in their place."
        )

    def slate(clip: ClipSpec) -> ClipSpec:
        if clip.path is not None and Path(clip.path).is_file():
            return clip
        status = "missing" if clip.status == "rendered" else clip.status
        return dataclasses.replace(clip, path=None, sha256=None, status=status)

    return dataclasses.replace(spec, clips=tuple(slate(c) for c in spec.clips))


def _finish(spec: CutSpec, out_path: Path, enc: Encoding, key: str, draft: bool, normalization: str | None,
            measured: tuple[float | None, float | None], built: list[str]) -> CutReport:
    info = probe(out_path)
    loudness, peak = measured
    placements = place(spec, enc.fps)
    shots = [
        ShotReport(c.shot_id, round(p.start / enc.fps, 6), round(p.end / enc.fps, 6),
                   "rendered" if c.path is not None else f"slate:{c.status}", c.take if c.path is not None else None)
        for c, p in zip(spec.clips, placements, strict=True)
    ]
    poster = out_path.with_suffix(".jpg")
    first = placements[0]
    at = (first.start + first.end) / 2 / enc.fps
    with atomic_path(poster, suffix=".jpg") as tmp:
        run_ffmpeg(["-ss", f"{at:.6f}", "-i", str(out_path), "-frames:v", "1", "-q:v", "3", "-update", "1",
                    "-f", "image2", str(tmp)], what=f"poster for {out_path.name}")
    srt_path, vtt_path = captions.write_sidecars(spec, out_path)
    result = CutReport(
        deliverable=spec.deliverable.name,
        path=out_path,
        duration=round(info.duration, 6),
        width=info.width or 0,
        height=info.height or 0,
        fps=float(info.fps) if info.fps else enc.fps,
        video_codec=info.video_codec or "",
        audio_codec=info.audio_codec or "",
        size_bytes=out_path.stat().st_size,
        sha256=sha256_file(out_path),
        loudness=None if loudness is None else round(loudness, 2),
        true_peak=None if peak is None else round(peak, 2),
        normalization=normalization,
        shots=shots,
        cut_key=key,
        draft=draft,
        poster=poster,
        srt=srt_path,
        vtt=vtt_path,
        built=built,
    )
    result.save()  # last: the report is what makes a later cut reuse this output
    return result
