"""Benchmark the editor against MoviePy and hand-written ffmpeg commands, measured in the same run.

    python bench/bench_cut.py [--scenario in-format|re-encode|pipelined|all] [--clips 20 --seconds 5]
                              [--size 1920x1080] [--quick] [--json] [--no-moviepy] [--memory] [--repeat N]

Every scenario cuts the same timeline: hard cuts, one music bed at -12 dB, loudness to -14 LUFS, AAC
192k, +faststart, H.264 High CRF 18 preset medium wherever anything is encoded.

- in-format: the clips are already in the deliverable's format (H.264 High, yuv420p, its size and
  rate), so reelmake stream-copies them. Against MoviePy (goal: MoviePy ≥ 5× slower) and against a
  hand-written stream-copy concat with the same audio mix (goal: ≤ 1.3× its time).
- re-encode: the same clips in another format (Constrained Baseline), so every frame is encoded.
  Against the hand-written re-encoding command (goal: ≤ 1.0× its time).
- pipelined: what is left once the last clip lands if every other clip was cut as it arrived: the
  last clip's normalisation plus the join and the audio pass (a re-cut after the last clip changed),
  against the full cut; and the engine's own tail (goal ≤ 1.5× that): the same clips rendered
  through the engine against the fake WaveSpeed provider, landing one by one while the engine cuts
  behind them, timed from the last clip landing to the finished deliverable.

``--json`` prints the seconds and ratios as one JSON object for scripts. Wall times on a shared
2-core machine are noisy; CPU times (this process and its ffmpeg children) are printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from reelmake.edit import BedSpec, ClipSpec, CutSpec, DeliverableSpec, cut
from reelmake.engine.outcomes import RenderOptions
from reelmake.fsutil import sha256_file

REPO = Path(__file__).resolve().parents[1]
FPS = 24
X264 = ["-c:v", "libx264", "-preset", "medium", "-crf", "18", "-profile:v", "high", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2"]
MIX = "volume=-12dB[bed];[shot][bed]amix=inputs=2:duration=first:normalize=0,loudnorm=I=-14:TP=-1,aresample=48000[a]"
GOALS = {"moviepy_over_reelmake": (">=", 5.0), "reelmake_over_copy_concat": ("<=", 1.3),
         "reelmake_over_reencode_command": ("<=", 1.0), "engine_tail_over_tail": ("<=", 1.5)}


def sh(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-y", "-v", "error", *args], check=True)


def make_media(d: Path, clips: int, seconds: float, size: str, profile: str) -> tuple[list[Path], Path]:
    """``clips`` clips sharing one picture (encoded once) with a different tone each, so every file has
    its own content hash; ``profile`` high makes them in the deliverable's format."""
    video = d / f"picture-{profile}.mp4"
    if profile == "high":
        codec = ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p"]
    else:  # x264's ultrafast writes Constrained Baseline: another format, the cut must encode it
        codec = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p"]
    sh("-f", "lavfi", "-i", f"testsrc2=s={size}:r={FPS}:d={seconds}", *codec, str(video))
    paths = []
    for i in range(clips):
        path = d / f"{profile}{i:03d}.mp4"
        sh("-i", str(video), "-f", "lavfi", "-i", f"sine=f={200 + 20 * i}:r=48000:d={seconds}",
           "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", str(path))
        paths.append(path)
    bed = d / "bed.wav"
    if not bed.exists():
        sh("-f", "lavfi", "-i", f"sine=f=110:r=48000:d={clips * seconds}", "-af", "volume=-6dB", "-ac", "2",
           str(bed))
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


def timed(fn: Callable[[], object], repeat: int = 1, fresh: Callable[[], object] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process and its ffmpeg children), the least of ``repeat``
    runs (other sessions share this machine: the least is the one they disturbed least); ``fresh``
    resets what a run leaves behind (a cut's output and work dir) before each run."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        if fresh is not None:
            fresh()
        start, cpu = time.perf_counter(), _cpu()
        fn()
        best = (min(best[0], time.perf_counter() - start), min(best[1], _cpu() - cpu))
    return best


def _cutting(spec: CutSpec, out: Path, work: Path, repeat: int) -> tuple[float, float]:
    def fresh() -> None:
        shutil.rmtree(work, ignore_errors=True)
        out.unlink(missing_ok=True)

    return timed(lambda: cut(spec, out, work_dir=work), repeat, fresh)


def copy_concat(paths: list[Path], bed: Path, out: Path) -> None:
    """The stream-copy command a person would write: concat demuxer, video copied, the same audio mix."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in paths))
    sh("-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(bed),
       "-filter_complex", f"[0:a]anull[shot];[1:a]{MIX}", "-map", "0:v", "-map", "[a]", "-c:v", "copy", *AAC,
       "-movflags", "+faststart", str(out))


def reencode_command(paths: list[Path], bed: Path, size: str, out: Path) -> None:
    """The re-encoding command a person would write: concat filter, the same audio mix, one x264 pass."""
    w, h = size.split("x")
    args: list[str] = []
    for p in paths:
        args += ["-i", str(p)]
    n = len(paths)
    graph = [f"[{i}:v]scale={w}:{h},setsar=1,fps={FPS},format=yuv420p[v{i}]" for i in range(n)]
    graph.append("".join(f"[v{i}][{i}:a]" for i in range(n)) + f"concat=n={n}:v=1:a=1[v][shot]")
    graph.append(f"[{n}:a]{MIX}")
    sh(*args, "-i", str(bed), "-filter_complex", ";".join(graph), "-map", "[v]", "-map", "[a]", *X264, *AAC,
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


def engine_tail(d: Path, paths: list[Path], bed: Path, args: argparse.Namespace, latency: float) -> float:
    """Seconds from the last clip landing to the finished deliverable, through the engine.

    Renders a storyboard of the same clips, hard cuts and bed against the fake WaveSpeed provider
    (tests/fakes/wavespeed.py), one task at a time so the clips land one by one ``latency`` seconds
    apart (the provider hands back these very files), and times the last clip's ``done`` event to
    the end of the render-and-cut."""
    sys.path.insert(0, str(REPO))
    from reelmake.engine.api import render
    from tests.fakes.wavespeed import FakeWaveSpeed
    from tests.fakes.wavespeed_media import clip_name

    root = d / "engine-project"
    (root / ".git").mkdir(parents=True, exist_ok=True)
    served = root / "served"
    served.mkdir()
    prompts = [f"shot {i}, a rooftop at dawn" for i in range(len(paths))]
    for path, prompt in zip(paths, prompts, strict=True):  # the fake serves a file by its parameters' name
        shutil.copyfile(path, served / clip_name(int(args.seconds), "16:9", False, prompt))
    shutil.copyfile(bed, root / "bed.wav")
    w, h = args.size.split("x")
    (root / "bench.yaml").write_text("\n".join([
        "reelmake: 1", "title: bench", f"defaults: {{backend: wavespeed, duration: {int(args.seconds)}}}",
        "assets: {bed: {audio: bed.wav}}", "shots:",
        *(f'  - {{id: s{i:03d}, prompt: "{p}"}}' for i, p in enumerate(prompts)),
        "soundtrack: [{asset: bed, volume: -12}]",
        f"deliverables: [{{name: master, size: {w}x{h}, fps: {FPS}, captions: none}}]",
        "backends: {wavespeed: {tier: gold, poll_initial: 0.05, poll_max: 0.1}}",
    ]) + "\n")
    landed: list[float] = []

    def on_event(job_id: str, state: str, detail: str) -> None:
        if state == "done":
            landed.append(time.perf_counter())

    key = "bench-cut-key"
    with FakeWaveSpeed(latency=latency, api_key=key, tier="gold", clips_dir=served) as fake:
        os.environ.update(WAVESPEED_API_KEY=key, WAVESPEED_BASE_URL=fake.base_url)
        summary = render(root / "bench.yaml", cache_dir=root / ".reelmake", options=RenderOptions(jobs=1),
                         on_event=on_event, yes=True)
        finished = time.perf_counter()
    if not summary.ok or len(landed) != len(paths):
        raise SystemExit(f"the engine's render failed: {summary.to_json()}")
    return finished - landed[-1]


def _moviepy_available(skip: bool) -> bool:
    if skip:
        return False
    try:
        import moviepy  # noqa: F401
    except ImportError:
        print("moviepy not installed (pip install 'reelmake[bench]'): skipping its column", file=sys.stderr)
        return False
    return True


def in_format(d: Path, args: argparse.Namespace) -> dict:
    paths, bed = make_media(d, args.clips, args.seconds, args.size, "high")
    spec = make_spec(paths, bed, args.seconds, args.size)
    rows = {"reelmake": _cutting(spec, d / "in-format.mp4", d / "work-in-format", args.repeat),
            "copy_concat": timed(lambda: copy_concat(paths, bed, d / "copy-concat.mp4"), args.repeat)}
    if _moviepy_available(args.no_moviepy):
        rows["moviepy"] = timed(lambda: with_moviepy(paths, bed, d / "moviepy.mp4"))
    ratios = {"reelmake_over_copy_concat": _ratio(rows, "reelmake", "copy_concat")}
    if "moviepy" in rows:
        ratios["moviepy_over_reelmake"] = _ratio(rows, "moviepy", "reelmake")
    return {"seconds": _seconds(rows), "ratios": ratios}


def re_encode(d: Path, args: argparse.Namespace) -> dict:
    paths, bed = make_media(d, args.clips, args.seconds, args.size, "baseline")
    spec = make_spec(paths, bed, args.seconds, args.size)
    rows = {"reelmake": _cutting(spec, d / "re-encode.mp4", d / "work-re-encode", args.repeat),
            "reencode_command": timed(lambda: reencode_command(paths, bed, args.size, d / "command.mp4"), args.repeat)}
    return {"seconds": _seconds(rows), "ratios": {"reelmake_over_reencode_command":
                                                  _ratio(rows, "reelmake", "reencode_command")}}


def pipelined(d: Path, args: argparse.Namespace) -> dict:
    paths, bed = make_media(d, args.clips, args.seconds, args.size, "baseline")
    spec = make_spec(paths, bed, args.seconds, args.size)
    work = d / "work-pipelined"
    rows = {"full_cut": timed(lambda: cut(spec, d / "pipelined.mp4", work_dir=work))}
    # The last clip lands with new content: only its piece is encoded, then the join and the audio pass.
    last = d / "last.mp4"
    sh("-i", str(paths[-1]), "-vf", "negate", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(last))
    landed = CutSpec(spec.title, (*spec.clips[:-1], ClipSpec(spec.clips[-1].shot_id, last, sha256_file(last),
                                                             args.seconds)), spec.deliverable, spec.beds, spec.mix)
    rows["tail"] = timed(lambda: cut(landed, d / "pipelined.mp4", work_dir=work))
    rows["no_op_recut"] = timed(lambda: cut(landed, d / "pipelined.mp4", work_dir=work))
    # Clips land a tail's time apart: a provider is never faster than the editor's piece of one clip.
    engine = engine_tail(d, paths, bed, args, latency=rows["tail"][0])
    ratios = {"tail_over_full_cut": _ratio(rows, "tail", "full_cut"),
              "engine_tail_over_tail": {"wall": round(engine / rows["tail"][0], 3)}}
    return {"seconds": {**_seconds(rows), "engine_tail": {"wall": round(engine, 3)}}, "ratios": ratios}


def _ratio(rows: dict[str, tuple[float, float]], a: str, b: str) -> dict[str, float]:
    return {"wall": round(rows[a][0] / rows[b][0], 3), "cpu": round(rows[a][1] / rows[b][1], 3)}


def _seconds(rows: dict[str, tuple[float, float]]) -> dict[str, dict[str, float]]:
    return {name: {"wall": round(wall, 3), "cpu": round(cpu, 3)} for name, (wall, cpu) in rows.items()}


SCENARIOS = {"in-format": in_format, "re-encode": re_encode, "pipelined": pipelined}


def memory(args: argparse.Namespace, d: Path) -> list[dict]:
    """Peak memory of the cutting process (a fresh child per run) against the number of clips."""
    paths, bed = make_media(d, args.clips, args.seconds, args.size, "baseline")
    cut(make_spec(paths, bed, args.seconds, args.size), d / "warm.mp4", work_dir=d / "work-memory")
    out = []
    for n in sorted({max(1, args.clips // 4), max(1, args.clips // 2), args.clips}):
        text = subprocess.run(
            [sys.executable, __file__, "--seconds", str(args.seconds), "--size", args.size,
             "--_memprobe", str(n), str(d)], capture_output=True, text=True, check=True).stdout
        out.append(json.loads(text.strip().splitlines()[-1]))
    return out


def memprobe(clips: int, seconds: float, size: str, d: Path) -> None:
    """Child mode: cut ``clips`` clips from ``d`` and print peak RSS and traced Python heap."""
    paths = sorted(d.glob("baseline*.mp4"))[:clips]
    tracemalloc.start()
    # Shares the warm work dir: pieces are cached, so this measures the join, mix and mux path
    # (encoding happens in ffmpeg, outside this process, either way).
    cut(make_spec(paths, d / "bed.wav", seconds, size), d / f"mem{clips}.mp4", work_dir=d / "work-memory")
    _, traced = tracemalloc.get_traced_memory()
    print(json.dumps({"clips": clips, "rss_mib": round(_peak_rss_kib() / 1024, 1),
                      "traced_mib": round(traced / 2**20, 2)}))


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


def _print(result: dict) -> None:
    print(f"{result['clips']} clips × {result['seconds_per_clip']:g} s at {result['size']}, {FPS} fps, one bed")
    for name, scenario in result["scenarios"].items():
        print(f"\n{name}")
        for row, value in scenario["seconds"].items():
            cpu = f"{value['cpu']:9.2f} s CPU" if "cpu" in value else ""
            print(f"  {row:24}{value['wall']:9.2f} s wall{cpu}")
        for ratio, value in scenario["ratios"].items():
            op, goal = GOALS.get(ratio, ("", None))
            target = f"   goal {op} {goal:g}" if goal is not None else ""
            cpu = f" {value['cpu']:6.2f}× CPU" if "cpu" in value else ""
            print(f"  {ratio:32}{value['wall']:6.2f}× wall{cpu}{target}")
    for m in result.get("memory", []):
        print(f"  {m['clips']:4d} clips: max RSS {m['rss_mib']:6.1f} MiB, Python heap peak {m['traced_mib']:6.2f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--quick", action="store_true", help="4 clips of 3 s at 320x180")
    ap.add_argument("--json", action="store_true", help="print one JSON object (seconds and ratios)")
    ap.add_argument("--no-moviepy", action="store_true")
    ap.add_argument("--memory", action="store_true", help="also the peak memory of the cutting process")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="time each command N times and keep the least (MoviePy runs once)")
    ap.add_argument("--_memprobe", nargs=2, metavar=("CLIPS", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.clips, args.seconds, args.size = 4, 3.0, "320x180"
    if args._memprobe:
        memprobe(int(args._memprobe[0]), args.seconds, args.size, Path(args._memprobe[1]))
        return
    d = Path(tempfile.mkdtemp(prefix="reelmake-bench-"))
    try:
        names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
        result = {"clips": args.clips, "seconds_per_clip": args.seconds, "size": args.size, "fps": FPS,
                  "scenarios": {name: SCENARIOS[name](d, args) for name in names}}
        if args.memory:
            result["memory"] = memory(args, d)
        print(json.dumps(result, indent=2)) if args.json else _print(result)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
