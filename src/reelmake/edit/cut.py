"""Cut one deliverable: plan the pieces, encode what must be, join, mix and normalise the audio, report.

Per deliverable: one ffprobe per new clip (cached), an encode per changed piece (cached: clips not
in the deliverable's format, the GOPs around cut points of those that are, each transition's
overlap), an audio-only mix read straight from the clips, and a final mux that stream-copies the
joined video. Each shot's decision (stream copy, smart cut or re-encode, and why) is logged at INFO
(``-v``) and saved in the report.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import ffmpeg

from ..errors import MediaError, StoryboardError
from ..fsutil import atomic_path, scratch_dir, sha256_file
from ..ffgraph import file_input, input_stream, run_graph
from ..media import probe
from . import audio, captions, report, sources
from .encode import SAMPLE_RATE, X264_REORDER, Encoding, samples_at
from .join import Entry, copy_options, timeline_video, write_concat_list
from .normalize import encoded
from .pieces import Copy, Decision, Encode, Piece, plan
from .report import CutReport, ShotReport
from .spec import ClipSpec, CutSpec
from .timeline import TRANSITIONS, Placement, exact, fps_fraction, place, to_frames

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

    ``work_dir`` caches probes and encoded pieces (shareable between processes). When the output
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

    enc, placements, trims = _frames(spec, draft)
    workers = max(1, min(len(spec.clips), jobs or os.cpu_count() or 1))
    samples = samples_at(placements[-1].end, enc.fps)
    with scratch_dir(work_dir / "tmp", "cut") as scratch, ThreadPoolExecutor(workers) as pool, \
            ThreadPoolExecutor(1) as sound:
        # The soundtrack needs no piece, only which clips have sound: it is mixed on its own thread
        # from the start (while ffprobe describes the clips and their pieces are encoded), and the
        # poster is drawn from its piece meanwhile.
        guess = [sources.has_audio_track(Path(c.path)) if c.path is not None else False for c in spec.clips]
        mix = functools.partial(audio.premix, spec, placements, trims, dest=scratch / "mix.wav", samples=samples)
        early = sound.submit(mix, has_audio=guess) if None not in guess else None
        found = list(pool.map(lambda c: _facts(c, work_dir), spec.clips))
        has_audio = [f is not None and f.has_audio for f in found]
        mixing = early if early is not None and guess == has_audio else sound.submit(mix, has_audio=has_audio)
        pieces, decisions = _plan(spec, placements, trims, found, enc)
        for decision in decisions:
            log.info("shot %s: %s", decision.shot_id, decision.describe())
        made = list(pool.map(lambda piece: _entry(piece, spec, trims, found, enc, work_dir), pieces))
        entries = [entry for entry, _ in made]
        frame = (placements[0].start + placements[0].end) // 2
        drawing = pool.submit(_poster, pieces, entries, found, frame, enc, scratch / "poster.jpg")
        measured = mixing.result()
        drawing.result()
        built = list(dict.fromkeys(spec.clips[i].shot_id for _, fresh in made for i in fresh))
        reorder = max([X264_REORDER] + [found[p.clip].delay for p in pieces if isinstance(p, Copy)])
        listing = write_concat_list(entries, enc, scratch / "timeline.ffconcat")
        with atomic_path(out_path, suffix=".mp4") as tmp:
            normalization, loudness = _mux(spec, enc, listing, reorder, scratch / "mix.wav", measured, samples, tmp)
        return _finish(spec, out_path, enc, key, draft, normalization, loudness, built, decisions,
                       scratch / "poster.jpg")


def prepare(spec: CutSpec, *, work_dir: Path, draft: bool = False) -> list[str]:
    """Make now what the cut of ``spec`` will need from the clips that have landed, while others render.

    Clips without a path (or whose file is not there yet) are the ones still rendering: only the
    pieces made of landed clips alone are probed and encoded, into the same content-keyed cache
    :func:`cut` reads, so that once the last clip lands only its own pieces, the join and the audio
    pass remain. Returns the shot ids whose frames were encoded now. A spec the cut would reject is
    left to the cut to report."""
    work_dir = Path(work_dir)
    spec = _with_slates(spec, partial=True)
    check(spec)
    enc, placements, trims = _frames(spec, draft)
    found = [_facts(c, work_dir) for c in spec.clips]
    pieces, _ = _plan(spec, placements, trims, found, enc)
    fresh: list[int] = []
    for piece in pieces:
        if all(found[i] is not None for i in _clips_of(piece)):
            fresh += _entry(piece, spec, trims, found, enc, work_dir)[1]
    return list(dict.fromkeys(spec.clips[i].shot_id for i in fresh))


def _frames(spec: CutSpec, draft: bool) -> tuple[Encoding, list[Placement], list[int]]:
    """The encoding, each shot's place on the timeline and each clip's first source frame."""
    enc = Encoding.for_deliverable(spec.deliverable, draft=draft)
    return enc, place(spec, enc.fps), [to_frames(exact(c.trim[0]), enc.rate) if c.trim else 0 for c in spec.clips]


def _plan(spec: CutSpec, placements: list[Placement], trims: list[int], found: list[sources.SourceFacts | None],
          enc: Encoding) -> tuple[list[Piece], list[Decision]]:
    reasons = [_must_encode(c, f, enc) for c, f in zip(spec.clips, found, strict=True)]
    return plan(placements, trims, found, reasons, [c.transition.type if c.transition else None for c in spec.clips])


def _clips_of(piece: Piece) -> list[int]:
    if isinstance(piece, Copy):
        return [piece.clip]
    return [piece.span.clip] if isinstance(piece, Encode) else [piece.out.clip, piece.into.clip]


def _poster(pieces: list[Piece], entries: list[Entry], found: list[sources.SourceFacts | None], frame: int,
            enc: Encoding, dest: Path) -> None:
    """Timeline frame ``frame`` as a JPEG, decoded from the piece that holds it (the same pixels the
    cut will carry: a copied frame is the clip's own)."""
    start = 0
    for piece, entry in zip(pieces, entries, strict=True):
        if frame < start + piece.frames:
            index = frame - start
            at = Fraction(index) / enc.rate
            if isinstance(piece, Copy):
                facts = found[piece.clip]
                assert facts is not None
                at = facts.offset + Fraction(piece.start + index) / enc.rate
            # A quarter frame early: the seek keeps the first frame at or after it, which is this one.
            seek = max(Fraction(0), at - Fraction(1, 4) / enc.rate)
            picture = file_input(entry.path, "video", ss=f"{float(seek):.6f}")["v:0"]
            run_graph(picture.output(str(dest), format="image2", update=1, **{"frames:v": 1, "q:v": 3}),
                      what="drawing the poster")
            return
        start += piece.frames
    raise AssertionError(f"frame {frame} is past the end of the timeline")


def _facts(clip: ClipSpec, work_dir: Path) -> sources.SourceFacts | None:
    if clip.path is None:
        return None
    assert clip.sha256 is not None
    found = sources.facts(Path(clip.path), clip.sha256, work_dir)
    if found.video_index is None:
        raise MediaError(f"shot {clip.shot_id}: {clip.path} has no video stream; re-render it with --force")
    return found


def _must_encode(clip: ClipSpec, found: sources.SourceFacts | None, enc: Encoding) -> str | None:
    """Why ``clip``'s frames must be encoded, or None when they may be stream-copied."""
    if found is None:
        return f"a slate ({clip.status})"
    if enc.burn_captions and clip.caption and clip.caption.strip():
        return "a burned caption"
    return found.mismatch(enc)


def _entry(piece: Piece, spec: CutSpec, trims: list[int], found: list[sources.SourceFacts | None],
           enc: Encoding, work_dir: Path) -> tuple[Entry, list[int]]:
    """The concat entry of ``piece`` and the clips whose frames were encoded for it now."""
    if isinstance(piece, Copy):
        clip, facts = spec.clips[piece.clip], found[piece.clip]
        assert clip.path is not None and clip.sha256 is not None and facts is not None
        whole = piece.start == 0 and piece.end == facts.frames
        path = sources.copyable(Path(clip.path), clip.sha256, facts, enc, work_dir, whole=whole)
        direct = path == Path(clip.path)
        return Entry(path, piece.frames, inpoint=None if direct else facts.inpoint(piece.start),
                     outpoint=facts.outpoint(piece.end) if piece.end < facts.frames else None), []
    path, fresh = encoded(piece, spec.clips, trims, enc, work_dir)
    return Entry(path, piece.frames), _clips_of(piece) if fresh else []


ATTEMPTS = 5  # muxes at most: the audio is re-encoded, the video only copied


def _mux(spec: CutSpec, enc: Encoding, listing: Path, reorder: int, mix_path: Path, measured: audio.Loudness,
         samples: int, dest: Path) -> tuple[str | None, tuple[float | None, float | None]]:
    """Mux the copied video with the normalised, AAC-encoded mix into ``dest``; measure the result.

    AAC can overshoot the true peak a little more than the margin allows on sharp transients;
    when the delivered file crosses the ceiling, mux again with the margin widened by the excess.
    Limiting loses loudness (more the harder it works): when the result lands under the target,
    mux again with the shortfall added to the gain.
    """
    margin, boost = audio.TP_MARGIN, 0.0
    previous: tuple[float, float] | None = None  # (boost, loudness) of the last attempt
    for attempt in range(ATTEMPTS):
        mix, normalization = audio.normalized(input_stream(str(mix_path), f="wav")["a:0"], spec, measured,
                                              samples, margin, boost)
        run_graph(
            ffmpeg.output(timeline_video(listing), mix, str(dest), format="mp4", **copy_options(enc, reorder),
                          **{"c:a": "aac", "b:a": "192k", "ar": SAMPLE_RATE, "ac": 2}, map_metadata=-1,
                          metadata=f"title={spec.title}", movflags="+faststart"),
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
    _check_length(spec, placements)
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
        if placements[index].frames < 1:
            raise StoryboardError(f"shot {clip.shot_id}: {clip.length:g} s is shorter than a frame at {fps:g} fps")
        leaving = placements[index + 1].transition_frames if index + 1 < len(placements) else 0
        if placements[index].transition_frames + leaving > placements[index].frames:
            raise StoryboardError(f"shot {clip.shot_id}: the transitions into and out of it overlap "
                                  f"({clip.length:g} s); shorten them or the shot's trim")
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


def _check_length(spec: CutSpec, placements: list[Placement]) -> None:
    want = spec.deliverable.length
    if want is None:
        return
    fps = spec.deliverable.fps
    total, wanted = placements[-1].end, to_frames(exact(want), fps_fraction(fps))
    if total != wanted:
        raise StoryboardError(
            f"deliverable {spec.deliverable.name}: its length is {want:g} s ({wanted} frames at {fps:g} fps) but "
            f"the shots add up to {float(total / fps_fraction(fps)):g} s ({total} frames) after transitions; change the "
            "shots' durations, trims or transitions, or the length")


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
            measured: tuple[float | None, float | None], built: list[str], decisions: list[Decision],
            drawn_poster: Path) -> CutReport:
    info = probe(out_path)
    loudness, peak = measured
    placements = place(spec, enc.fps)
    shots = [
        ShotReport(c.shot_id, round(float(p.start / enc.rate), 6), round(float(p.end / enc.rate), 6),
                   "rendered" if c.path is not None else f"slate:{c.status}", d.mode, d.describe(),
                   c.take if c.path is not None else None)
        for c, p, d in zip(spec.clips, placements, decisions, strict=True)
    ]
    poster = out_path.with_suffix(".jpg")
    with atomic_path(poster, suffix=".jpg") as tmp:
        shutil.copyfile(drawn_poster, tmp)
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
