"""Benchmark the campaign cut on Ray: 1 and 2 Ray workers against the in-process executor.

    python bench/bench_ray.py [--variants us-15,us-30] [--draft] [--repeat 1] [--json]

The example campaign (storyboards/campaign: 6 variants × 2 deliverables, 1280×720 and 720×1280) is
copied into a temporary project and its 12 distinct clips rendered once with the animatic. Each run
then cuts every deliverable of every variant from those clips with an empty editor cache (``edit/``)
and no outputs, so every run does the same work: in this process (deliverables one after another,
as ``reelmake cut`` does), and on a one-node Ray cluster on loopback with one CPU, then two (each
deliverable a Ray task of one CPU, so that many at once). Connecting and starting workers is timed
apart from the cut. Reports the least of ``--repeat`` runs and the ratios in-process / Ray.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reelmake.engine.executors import ExecutorChoice, open_executor  # noqa: E402
from reelmake.engine.project import Project  # noqa: E402
from tests.ray_cluster import loopback_cluster  # noqa: E402


def prepare(root: Path, variants: list[str] | None) -> Path:
    (root / ".git").mkdir(parents=True)
    shutil.copytree(REPO / "storyboards" / "campaign", root / "campaign")
    path = root / "campaign" / "campaign.yaml"
    project = Project.open(path, backend="animatic", variants=variants)
    summary = project.render(cut=False)
    assert summary.result.ok, summary.result.failures()
    return path


def cut_once(path: Path, variants: list[str] | None, draft: bool, executor=None) -> tuple[float, int]:
    project = Project.open(path, backend="animatic", variants=variants)
    shutil.rmtree(project.workspace.edit_dir, ignore_errors=True)  # every run encodes every piece again
    shutil.rmtree(project.campaign.root / "out", ignore_errors=True)
    start = time.perf_counter()
    cuts = project.cut(draft=draft, executor=executor).cuts
    elapsed = time.perf_counter() - start
    assert cuts.ok, cuts.errors
    return elapsed, sum(len(outputs) for outputs in cuts.outputs.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", help="comma-separated variant ids (default: all six)")
    parser.add_argument("--draft", action="store_true", help="draft cuts (half size, fast preset): a quick run")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    variants = args.variants.split(",") if args.variants else None
    results: dict[str, float] = {}
    started: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        path = prepare(Path(tmp) / "project", variants)
        best = min(cut_once(path, variants, args.draft) for _ in range(args.repeat))
        results["in-process"], deliverables = best
        for workers in (1, 2):
            with loopback_cluster(num_cpus=workers) as (address, env):
                os.environ.update(env)
                start = time.perf_counter()
                with open_executor(ExecutorChoice("ray", address), on_note=lambda note: None) as executor:
                    started[f"ray-{workers}"] = time.perf_counter() - start
                    runs = [cut_once(path, variants, args.draft, executor) for _ in range(args.repeat)]
                results[f"ray-{workers}"] = min(runs)[0]
    load = os.getloadavg()[0]
    ratios = {name: results["in-process"] / seconds for name, seconds in results.items() if name != "in-process"}
    if args.json:
        print(json.dumps({"deliverables": deliverables, "seconds": results, "connect_seconds": started,
                          "ratios": ratios, "load_average": load, "cpus": os.cpu_count()}, indent=2))
        return 0
    print(f"campaign cut, {deliverables} deliverables{' (draft)' if args.draft else ''}, "
          f"{os.cpu_count()} CPU(s), load average {load:.1f} at the end")
    for name, seconds in results.items():
        extra = f"  (+{started[name]:.1f} s to connect)" if name in started else ""
        speed = f"  speed-up ×{ratios[name]:.2f}" if name in ratios else ""
        print(f"  {name:<11} {seconds:7.1f} s{speed}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
