"""Engine benchmarks (issue 3), as ratios against a baseline measured in the same run.

1. Orchestration overhead: N shots on a backend with a fixed latency at concurrency C, against the
   ideal ceil(N / C) × latency.
2. No-op rerun of a fully cached storyboard with many shots: wall time of the whole `reelmake render`
   process and the number of backend calls (must be zero).
3. Plan scaling: plan time for 1,000 shots against 100 shots (startup excluded).

Run: python bench/bench_engine.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reelmake.backends.wavespeed import compile as kling  # noqa: E402
from reelmake.catalog import register_model  # noqa: E402
from reelmake.jobs import Reconciliation, TaskOutput  # noqa: E402
from reelmake.plugins import BackendPlugin, RequestFormat, register  # noqa: E402

CALLS = {"submit": 0, "wait": 0, "fetch": 0}


class LatencyBackend:
    """A provider whose every task takes exactly `latency` seconds; fetch copies one tiny real clip."""

    name, remote = "latency", True

    def __init__(self, settings, folder=None):
        self.latency = float(settings.get("latency", 1.0))
        self.clip = Path(settings["clip"])

    def preflight(self, jobs):
        pass

    async def submit(self, job, *, on_status=None, on_send=None):
        if on_send is not None:
            await on_send()
        CALLS["submit"] += 1
        return f"t-{job.key[:12]}"

    async def wait(self, job, task_id, on_status):
        CALLS["wait"] += 1
        await asyncio.sleep(self.latency)
        return TaskOutput(task_id, ())

    async def fetch(self, job, output, dest):
        CALLS["fetch"] += 1
        shutil.copyfile(self.clip, dest)

    async def reconcile(self, job, ambiguity):
        return Reconciliation()

    async def aclose(self):
        pass


def install(clip: Path, latency: float) -> None:
    register(BackendPlugin(
        name="latency", remote=True,
        factory=lambda settings, folder: LatencyBackend({"latency": latency, "clip": clip, **settings}),
        compilers={"kling-o3": RequestFormat(kling.prompt, kling.request)}))
    register_model("latency-v1", {
        "backend": "latency", "default_for_backend": True, "endpoint": "bench/latency", "compiler": "kling-o3",
        "durations": {"min": 1, "max": 15}, "aspect_ratios": ["16:9"], "max_concurrency": 50,
        "features": {"sound": True}, "pricing": {"rates": {"base": "0.01", "sound": "0.01", "video": "0.01"}},
    })


def write_storyboard(root: Path, shots: int, backend: str = "latency") -> Path:
    (root / ".git").mkdir(parents=True, exist_ok=True)
    lines = ["reelmake: 1", "title: Bench", f"defaults: {{backend: {backend}, duration: 2}}", "shots:"]
    lines += [f'  - {{id: s{i:04d}, prompt: "shot number {i}"}}' for i in range(shots)]
    path = root / f"bench{shots}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_clip(root: Path) -> Path:
    clip = root / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x36:r=24:d=2",
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(clip)], check=True)
    return clip


def bench_overhead(root: Path, shots: int, concurrency: int, latency: float) -> dict:
    from reelmake.engine.outcomes import RenderOptions
    from reelmake.engine.api import render

    path = write_storyboard(root / "overhead", shots)
    start = time.perf_counter()
    summary = render(path, cache_dir=root / "overhead-cache", cut=False,
                     options=RenderOptions(jobs=concurrency, max_cost=None), yes=True)
    wall = time.perf_counter() - start
    assert len(summary.result.ids("rendered")) == shots, summary.result.outcomes[:3]
    ideal = math.ceil(shots / concurrency) * latency
    return {"shots": shots, "concurrency": concurrency, "wall_s": wall, "ideal_s": ideal, "ratio": wall / ideal}


def bench_noop(root: Path, shots: int) -> dict:
    from reelmake.engine.api import render

    path = write_storyboard(root / "noop", shots)
    cache = root / "noop-cache"
    render(path, cache_dir=cache, cut=False, yes=True)
    CALLS.update(submit=0, wait=0, fetch=0)
    start = time.perf_counter()
    summary = render(path, cache_dir=cache, cut=False, yes=True)
    in_process = time.perf_counter() - start
    calls = sum(CALLS.values())
    # The whole CLI process, as a user runs it (imports included); the backend is registered by a shim.
    shim = root / "noop_cli.py"
    shim.write_text(
        "import sys; sys.path.insert(0, %r)\n"
        "from bench.bench_engine import install; install(%r, 0)\n"
        "from reelmake.cli import main; main()\n" % (str(REPO), str(root / "clip.mp4")))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(shim), "render", str(path), "--no-cut", "--cache-dir", str(cache)],
                          capture_output=True, text=True)
    process = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    return {"shots": shots, "in_process_s": in_process, "process_s": process, "backend_calls": calls,
            "rendered": len(summary.result.ids("rendered"))}


def bench_plan_scaling(root: Path, small: int, large: int, repeats: int = 3) -> dict:
    from reelmake.engine.api import plan

    times = {}
    for shots in (small, large):
        path = write_storyboard(root / f"scale{shots}", shots)
        plan(path, cache_dir=root / "scale-cache")  # warm imports and the hash memo
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            plan(path, cache_dir=root / "scale-cache")
            best = min(best, time.perf_counter() - start)
        times[shots] = best
    return {"small": small, "large": large, "small_s": times[small], "large_s": times[large],
            "ratio": times[large] / times[small], "linear_ratio": large / small}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller numbers, for CI smoke runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        latency = 0.5 if args.quick else 1.0
        install(make_clip(root), latency)
        overhead = bench_overhead(root, 100 if args.quick else 200, 50, latency)
        print(f"orchestration: {overhead['shots']} shots × {latency:g} s at concurrency {overhead['concurrency']}: "
              f"{overhead['wall_s']:.2f} s vs ideal {overhead['ideal_s']:.2f} s → ratio {overhead['ratio']:.3f} "
              f"(goal ≤ 1.10)")
        install(root / "clip.mp4", 0)
        noop = bench_noop(root, 200 if args.quick else 1000)
        print(f"no-op rerun of {noop['shots']} cached shots: {noop['process_s']:.2f} s for the whole CLI process "
              f"({noop['in_process_s']:.2f} s in process), {noop['backend_calls']} backend calls "
              f"(goal < 1 s, 0 calls)")
        scale = bench_plan_scaling(root, 100, 1000 if not args.quick else 500)
        print(f"plan scaling: {scale['large']} shots {scale['large_s'] * 1000:.0f} ms vs {scale['small']} shots "
              f"{scale['small_s'] * 1000:.0f} ms → ratio {scale['ratio']:.1f} (linear would be "
              f"{scale['linear_ratio']:.0f}; goal ≤ 15 for 10×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
