"""Run every benchmark in sequence and print their ratio lines (`make bench`).

  python bench/run_all.py            full sizes (several minutes on 2 cores)
  python bench/run_all.py --quick    small sizes, a smoke run
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "engine": (["bench_engine.py"], ["--quick"]),
    "cut": (["bench_cut.py"], ["--quick"]),
    "campaign": (["bench_campaign.py"], ["--variants", "40"]),
    "ratelimit": (["bench_ratelimit.py"], ["--quick"]),
    "remote": (["bench_remote.py"], ["--quick"]),
    "ray": (["bench_ray.py"], ["--variants", "us-15,us-30", "--draft"]),  # needs the reelmake[ray] extra
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("only", nargs="*", help=f"run only these: {', '.join(BENCHES)}")
    args = parser.parse_args()
    unknown = set(args.only) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    failed = 0
    for name, (script, quick) in BENCHES.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        command = [sys.executable, str(HERE / script[0]), *(quick if args.quick else [])]
        failed += subprocess.run(command, cwd=HERE.parent).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
