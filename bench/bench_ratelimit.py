"""Rendering under an account tier's rate limit (issue 11), as a ratio against the ideal schedule.

N shots on WaveSpeed's Bronze tier (2 tasks at once, 2 starts per minute) with the minute compressed to
WINDOW seconds, through the real engine and WaveSpeed backend against the loopback fake provider (which
enforces the same limits). The ideal schedule starts every shot the moment both a concurrency slot and a
window slot are free and finishes it exactly LATENCY seconds later, with no polling, download or
bookkeeping; the ratio is the measured wall time over the ideal one.

Run: python bench/bench_ratelimit.py [--quick] [--shots N] [--window S] [--latency S]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes.wavespeed import FakeWaveSpeed  # noqa: E402
from tests.fakes.wavespeed_media import ensure_clip  # noqa: E402

KEY = "bench-ratelimit-key"
BRONZE = (2, 2)  # (tasks at once, starts per window): https://wavespeed.ai/docs/account-levels


def ideal_schedule(shots: int, latency: float, window: float, concurrency: int = BRONZE[0],
                   starts: int = BRONZE[1]) -> float:
    """When the last shot finishes if each starts as early as the tier allows and takes ``latency``."""
    started: list[float] = []
    finished: list[float] = []
    for _ in range(shots):
        at = 0.0
        if len(started) >= starts:  # a sliding window: the start `starts` back must be a window ago
            at = max(at, started[-starts] + window)
        running = sorted(finished)
        if len(running) >= concurrency:  # wait for enough of the earlier shots to finish
            at = max(at, running[len(running) - concurrency])
        started.append(at)
        finished.append(at + latency)
    return max(finished)


def prompt(i: int) -> str:
    return f"shot number {i}, a rooftop at dawn"


def write_storyboard(root: Path, shots: int, window: float) -> Path:
    (root / ".git").mkdir(parents=True, exist_ok=True)
    lines = [
        "reelmake: 1", "title: Rate-limited bench", "defaults: {backend: wavespeed, duration: 3}", "shots:",
        *(f'  - {{id: s{i:02d}, prompt: "{prompt(i)}"}}' for i in range(shots)),
        "backends:",
        "  wavespeed:",
        f"    {{tier: bronze, rate_limit: {{submits: {BRONZE[1]}, per: {window}}}, poll_initial: 0.2, poll_max: 0.5}}",
    ]
    path = root / "bench.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def bench(shots: int, window: float, latency: float) -> dict:
    from reelmake.engine.api import render

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(shots):  # the fake's own ffmpeg work (making outputs) is not the client's time
            ensure_clip(root / "clips", 3, "16:9", False, prompt(i))
        path = write_storyboard(root, shots, window)
        with FakeWaveSpeed(latency=latency, api_key=KEY, tier="bronze", window=window, over_concurrency="reject",
                           clips_dir=root / "clips") as fake:
            os.environ.update(WAVESPEED_API_KEY=KEY, WAVESPEED_BASE_URL=fake.base_url)
            start = time.perf_counter()
            summary = render(path, cache_dir=root / ".reelmake", cut=False, yes=True)
            wall = time.perf_counter() - start
            stats = fake.stats()
    assert summary.result.failures() == [], summary.result.failures()[:3]
    ideal = ideal_schedule(shots, latency, window)
    return {"shots": shots, "wall_s": wall, "ideal_s": ideal, "ratio": wall / ideal,
            "submissions": stats["submissions"], "rate_limited": stats["rate_limited"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="6 shots instead of 12")
    parser.add_argument("--shots", type=int)
    parser.add_argument("--window", type=float, default=5.0, help="seconds in Bronze's minute (default 5)")
    parser.add_argument("--latency", type=float, default=3.0, help="seconds each task runs (default 3)")
    args = parser.parse_args()
    shots = args.shots or (6 if args.quick else 12)
    result = bench(shots, args.window, args.latency)
    print(f"rate-limited: {result['shots']} shots on Bronze (2 at once, 2 per {args.window:g} s), "
          f"{args.latency:g} s each: {result['wall_s']:.2f} s vs ideal {result['ideal_s']:.2f} s → ratio "
          f"{result['ratio']:.3f} (goal ≤ 1.15); {result['submissions']} submissions, "
          f"{result['rate_limited']} refused by the provider")
    return 0


if __name__ == "__main__":
    sys.exit(main())
