"""Planning against the team's remote store (issue 17: 1,000 shots in under 2 s on the test server).

Starts moto's S3 server on loopback, publishes sidecars for every shot of an N-shot animatic storyboard,
and times a whole plan (open, hash, compile, one batched lookup, plan) with the clips in the bucket,
against the same plan with the remote turned off (REELMAKE_REMOTE=none), best of --repeat runs.

  python bench/bench_remote.py [--shots 1000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402

from tests.fakes.s3 import MotoServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200 shots, one run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    shots, repeat = (200, 1) if args.quick else (args.shots, args.repeat)
    server = MotoServer()
    try:
        os.environ.update(server.env())
        from reelmake.engine.project import Project

        bucket = server.bucket()
        root = Path(tempfile.mkdtemp(prefix="bench-remote-"))
        (root / ".git").mkdir()
        (root / "reelmake.toml").write_text(f'remote = "s3://{bucket}/team"\n')
        board = {"reelmake": 1, "title": "Bench", "defaults": {"backend": "animatic", "duration": 1},
                 "shots": [{"id": f"s{i:04d}", "prompt": f"Shot {i}"} for i in range(shots)]}
        path = root / "spot.yaml"
        path.write_text(yaml.safe_dump(board))
        project = Project.open(path)
        sidecar = json.dumps({"sha256": "0" * 64, "size_bytes": 1}).encode()
        server.filesystem().pipe({f"{bucket}/team/clips/{job.key}.{ext}": sidecar
                                  for job in project.jobs[""] for ext in ("mp4", "json")})

        def timed(remote: bool) -> float:
            os.environ["REELMAKE_REMOTE"] = f"s3://{bucket}/team" if remote else "none"
            best = float("inf")
            for _ in range(repeat):
                started = time.perf_counter()
                plan = Project.open(path).plan()
                best = min(best, time.perf_counter() - started)
                assert all(r.status == ("cached" if remote else "new") for r in plan.rows)
            return best

        with_remote, local_only = timed(True), timed(False)
    finally:
        server.close()
    result = {"shots": shots, "plan_with_remote_s": round(with_remote, 3), "plan_local_only_s": round(local_only, 3),
              "remote_share_s": round(with_remote - local_only, 3)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"plan of {shots} shots, all in the bucket: {with_remote:.2f} s (local-only plan {local_only:.2f} s; "
              f"the remote lookup {with_remote - local_only:.2f} s); goal for 1,000: < 2 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
