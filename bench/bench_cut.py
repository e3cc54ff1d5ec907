"""Benchmark the editor: reelmake's cut vs MoviePy vs one hand-written ffmpeg command, in one run.

    python bench/bench_cut.py [--clips 20 --seconds 5 --size 1920x1080] [--quick]

Hard cuts, one music bed, the same codec settings everywhere (H.264 High CRF 18 preset medium,
AAC 192k, +faststart). Also: a re-cut after one changed shot, a no-op re-cut, and the peak memory
of the Python process (each cut in a fresh child process) against the number of clips.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from reelmake.edit import BedSpec, ClipSpec, CutSpec, DeliverableSpec, cut
from reelmake.fsutil import sha256_file

FPS = 24
X264 = ["-c:v", "libx264", "-preset", "medium", "-crf", "18", "-profile:v", "high", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2"]


def sh(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-y", "-v", "error", *args], check=True)


def make_media(d: Path, clips: int, seconds: float, size: str) -> tuple[list[Path], Path]:
    paths = []
    for i in range(clips):
        path = d / f"clip{i:03d}.mp4"
        sh("-f", "lavfi", "-i", f"testsrc2=s={size}:r={FPS}:d={seconds}",
           "-f", "lavfi", "-i", f"sine=f={200 + 20 * i}:r=48000:d={seconds}",
           "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-shortest", str(path))
        paths.append(path)
    bed = d / "bed.wav"
    sh("-f", "lavfi", "-i", f"sine=f=110:r=48000:d={clips * seconds}", "-af", "volume=-6dB", "-ac", "2", str(bed))
    return paths, bed


def make_spec(paths: list[Path], bed: Path, seconds: float, size: str) -> CutSpec:
    w, h = (int(v) for v in size.split("x"))
    return CutSpec(
        title="bench",
        clips=tuple(ClipSpec(f"s{i:03d}", p, sha256_file(p), seconds) for i, p in enumerate(paths)),
        deliverable=DeliverableSpec("master", w, h, FPS, captions="none"),
        beds=(BedSpec("bed", bed, sha256_file(bed), volume_db=-12),),
    )


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process and its ffmpeg children): CPU time is what to
    compare on a shared machine, where wall time depends on what else is running."""
    start, cpu = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - start, _cpu() - cpu


def hand_written(paths: list[Path], bed: Path, size: str, out: Path) -> None:
    """The one ffmpeg command a person would write: concat filter, bed mix, one-pass loudnorm."""
    w, h = size.split("x")
    args: list[str] = []
    for p in paths:
        args += ["-i", str(p)]
    args += ["-i", str(bed)]
    n = len(paths)
    graph = [f"[{i}:v]scale={w}:{h},setsar=1,fps={FPS},format=yuv420p[v{i}]" for i in range(n)]
    graph.append("".join(f"[v{i}][{i}:a]" for i in range(n)) + f"concat=n={n}:v=1:a=1[v][shot]")
    graph.append(f"[{n}:a]volume=-12dB[bed];[shot][bed]amix=inputs=2:duration=first:normalize=0,"
                 "loudnorm=I=-14:TP=-1,aresample=48000[a]")
    sh(*args, "-filter_complex", ";".join(graph), "-map", "[v]", "-map", "[a]", *X264, *AAC,
       "-movflags", "+faststart", str(out))


def with_moviepy(paths: list[Path], bed: Path, out: Path) -> None:
    from moviepy import AudioFileClip, CompositeAudioClip, VideoFileClip, concatenate_videoclips

    clips = [VideoFileClip(str(p)) for p in paths]
    video = concatenate_videoclips(clips)
    music = AudioFileClip(str(bed)).with_duration(video.duration).with_volume_scaled(10 ** (-12 / 20))
    video = video.with_audio(CompositeAudioClip([video.audio, music]))
    video.write_videofile(str(out), fps=FPS, codec="libx264", preset="medium", audio_codec="aac",
                          audio_bitrate="192k", audio_fps=48000, logger=None,
                          temp_audiofile=str(out.with_suffix(".temp-audio.m4a")),  # not in the cwd
                          ffmpeg_params=["-crf", "18", "-profile:v", "high", "-pix_fmt", "yuv420p",
                                         "-movflags", "+faststart"])
    for c in clips:
        c.close()


def memprobe(clips: int, seconds: float, size: str, d: Path) -> None:
    """Child mode: cut ``clips`` clips from ``d`` and print peak RSS and traced Python heap."""
    paths = sorted(d.glob("clip*.mp4"))[:clips]
    tracemalloc.start()
    # Shares the main run's work dir: clips are cached, so this measures the join, mix and mux path
    # (encoding happens in ffmpeg, outside this process, either way).
    cut(make_spec(paths, d / "bed.wav", seconds, size), d / f"mem{clips}.mp4", work_dir=d / "work")
    _, traced = tracemalloc.get_traced_memory()
    print(json.dumps({"clips": clips, "rss_mib": _peak_rss_kib() / 1024, "traced_mib": traced / 2**20}))


def _peak_rss_kib() -> int:
    # ru_maxrss survives exec on Linux, so a child would report its parent's size at fork time;
    # VmHWM belongs to this process image only.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--quick", action="store_true", help="4 clips of 1 s at 320x180")
    ap.add_argument("--no-moviepy", action="store_true")
    ap.add_argument("--_memprobe", nargs=2, metavar=("CLIPS", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.clips, args.seconds, args.size = 4, 1.0, "320x180"
    if args._memprobe:
        memprobe(int(args._memprobe[0]), args.seconds, args.size, Path(args._memprobe[1]))
        return

    d = Path(tempfile.mkdtemp(prefix="reelmake-bench-"))
    try:
        print(f"media: {args.clips} clips × {args.seconds:g} s at {args.size}, {FPS} fps, one bed  ({d})")
        paths, bed = make_media(d, args.clips, args.seconds, args.size)
        spec = make_spec(paths, bed, args.seconds, args.size)
        rows: dict[str, tuple[float, float]] = {}
        rows["reelmake cut"] = timed(lambda: cut(spec, d / "reelmake.mp4", work_dir=d / "work"))
        rows["hand-written ffmpeg"] = timed(lambda: hand_written(paths, bed, args.size, d / "hand.mp4"))
        try:
            import moviepy  # noqa: F401
        except ImportError:
            print("moviepy not installed (pip install 'reelmake[bench]'): skipping its column")
        else:
            if not args.no_moviepy:
                rows["moviepy"] = timed(lambda: with_moviepy(paths, bed, d / "moviepy.mp4"))
        # One shot changes: only its intermediate is re-encoded, the rest is stream-copied.
        changed = d / "changed.mp4"
        shutil.copy(paths[0], changed)
        sh("-i", str(paths[0]), "-vf", "negate", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy",
           str(changed))
        edited = CutSpec(spec.title, (ClipSpec("s000", changed, sha256_file(changed), args.seconds),
                                      *spec.clips[1:]), spec.deliverable, spec.beds, spec.mix)
        rows["re-cut, one shot changed"] = timed(lambda: cut(edited, d / "reelmake.mp4", work_dir=d / "work"))
        rows["re-cut, nothing changed"] = timed(lambda: cut(edited, d / "reelmake.mp4", work_dir=d / "work"))

        full_wall, full_cpu = rows["reelmake cut"]
        print(f"\n{'':28}{'wall s':>9}{'× reelmake':>12}{'CPU s':>9}{'× reelmake':>12}")
        for name, (wall, cpu) in rows.items():
            print(f"{name:28}{wall:9.2f}{wall / full_wall:12.2f}{cpu:9.2f}{cpu / full_cpu:12.2f}")
        print()

        def ratio(name: str) -> str:
            return f"{rows[name][0] / full_wall:.2f}× wall, {rows[name][1] / full_cpu:.2f}× CPU"

        if "moviepy" in rows:
            print(f"MoviePy takes {ratio('moviepy')} of reelmake's cut (goal ≥ 5×)")
        hand_wall, hand_cpu = rows["hand-written ffmpeg"]
        print(f"reelmake takes {full_wall / hand_wall:.2f}× wall, {full_cpu / hand_cpu:.2f}× CPU of the "
              "hand-written command (goal ≤ 1.2×)")
        print(f"re-cut after one changed shot: {ratio('re-cut, one shot changed')} of the full cut (goal < 0.3×)")
        print("\npeak memory of the Python process (fresh child per run):")
        counts = sorted({max(1, args.clips // 4), max(1, args.clips // 2), args.clips})
        for n in counts:
            out = subprocess.run(
                [sys.executable, __file__, "--seconds", str(args.seconds), "--size", args.size,
                 "--_memprobe", str(n), str(d)], capture_output=True, text=True, check=True).stdout
            m = json.loads(out.strip().splitlines()[-1])
            print(f"  {m['clips']:4d} clips: max RSS {m['rss_mib']:6.1f} MiB, "
                  f"Python heap peak {m['traced_mib']:6.2f} MiB")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
