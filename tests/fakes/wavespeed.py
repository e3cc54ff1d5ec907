"""A loopback WaveSpeed provider: the REST protocol of ``/work/shared/PROVIDERS.md`` on a real HTTP server.

Faithful enough that the official ``wavespeed`` SDK (2.x) works against it unchanged. Tasks are
``created`` → ``processing`` → ``completed`` after ``latency`` seconds (wall clock, so a restart keeps
their progress), outputs are real mp4 files of the requested duration and aspect ratio served from
the fake's own URL, and tasks and uploads persist in ``--state FILE`` (atomic JSON).

In tests::

    with FakeWaveSpeed(latency=0.2, api_key="k") as fake:
        fake.base_url            # http://127.0.0.1:PORT
        fake.stats()             # {"submissions", "polls", "uploads", "downloads", ...}
        fake.set_faults({"submit": {"status": 500, "count": 1}})

As a process (prints its base URL on the first line)::

    python -m tests.fakes.wavespeed --port 0 --latency 2 --state /tmp/ws.json [--api-key KEY]

Auth: every ``/api/v3`` route wants ``Authorization: Bearer <key>`` (the configured key, or any
non-empty key when none is configured); otherwise 401 (whose message echoes the presented key, as
careless servers do, so clients prove they scrub it). Upload PUT URLs and media URLs are pre-signed:
they take no Authorization header and refuse one.

Control routes (no auth):

- ``GET /_fake/stats`` → ``{"submissions": tasks created, "submit_requests": submit POSTs received,
  "polls", "uploads" (completed), "downloads" (output GETs), "history", "price", "balance"}``.
- ``GET /_fake/tasks`` → every task with its inputs.
- ``POST /_fake/faults`` with a JSON object; each key sets (or with ``null`` clears) one rule. Every rule
  takes ``count`` (fire on the next N matching requests; the default is 1) and/or ``share`` (fire with
  this probability, seeded by ``"seed"``; with both, at most ``count`` times):

  - ``"submit": {"status": 429|500|502|503|"drop", "retry_after": S, "create": bool}``: answer a submit
    with that status, or close the connection without an answer ("drop"). 429 never creates the
    task; 5xx and "drop" create it first (the worst case: it is billed) unless ``"create": false``.
  - ``"poll": {"status": 429|500|503|"drop", "retry_after": S}``: the same for result GETs.
  - ``"upload": {"status": 429|500|503}``: the same for upload ticket and binary upload POSTs.
  - ``"slow": {"route": "submit"|"poll"|"download"|"upload"|"history"|"price"|"any", "seconds": S}``:
    sleep before answering (for a submit, after the task was created).
  - ``"fail_tasks": {"code": 1200|1401|5000|…, "message": "…"}``: new tasks end ``failed`` with that code.
  - ``"truncate_downloads": {"mode": "body"|"file"}``: "body" announces the full Content-Length and
    closes halfway; "file" serves the first half of the mp4 as if it were complete.
  - ``"http200_errors": true``: error envelopes go out as HTTP 200 with ``code != 200``.
  - ``"reset": true`` clears every rule first; ``"seed": N`` reseeds the share dice.
- ``DELETE /_fake/faults`` clears every rule.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reelmake.fsutil import atomic_write_bytes, atomic_write_text

from . import wavespeed_schema as schema
from .wavespeed_faults import Faults
from .wavespeed_handler import Handler
from .wavespeed_media import ensure_clip

TERMINAL_FAILURES = {
    1200: "Content moderation: the prompt or a reference was flagged",
    1400: "Missing required parameter",
    1401: "Invalid parameter",
    1402: "A media URL could not be fetched",
    1403: "Task failed",
    1405: "Task failed",
    5000: "Internal server error",
    5003: "Service unavailable",
    5004: "Task timed out",
}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeWaveSpeed:
    """The fake provider; ``start()``/``stop()`` or use it as a context manager."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        state: Path | None = None,
        api_key: str | None = None,
        balance: Decimal = Decimal("100"),
        clips_dir: Path | None = None,
    ) -> None:
        self.latency = latency
        self.api_key = api_key
        self.faults = Faults()
        self._lock = threading.RLock()
        self._state_path = Path(state) if state else None
        self._owns_media = self._state_path is None
        self.media_dir = Path(str(self._state_path) + ".d") if self._state_path else Path(tempfile.mkdtemp(prefix="fake-ws-"))
        self.media_dir.mkdir(parents=True, exist_ok=True)
        # Generated outputs depend only on their parameters, so a test suite may share one directory.
        self.clips_dir = Path(clips_dir) if clips_dir else self.media_dir / "clips"
        self._initial_balance = balance
        self._counters = dict.fromkeys(
            ("submissions", "submit_requests", "polls", "uploads", "downloads", "history", "price", "balance"), 0
        )
        self.tasks: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        if self._state_path and self._state_path.exists():
            saved = json.loads(self._state_path.read_text())
            self.tasks, self.uploads = saved.get("tasks", {}), saved.get("uploads", {})
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeWaveSpeed:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-wavespeed", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._owns_media:
            shutil.rmtree(self.media_dir, ignore_errors=True)

    def __enter__(self) -> FakeWaveSpeed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def set_faults(self, spec: dict[str, Any]) -> None:
        self.faults.configure(spec)

    def count(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1

    # --- state -------------------------------------------------------------------------------

    def save(self) -> None:
        if self._state_path:
            with self._lock:
                atomic_write_text(self._state_path, json.dumps({"tasks": self.tasks, "uploads": self.uploads}))

    def create_task(self, model: str, inputs: dict[str, Any]) -> dict[str, Any]:
        fail = self.faults.take("fail_tasks")
        if fail is None and not self._media_urls_exist(inputs):
            fail = {"code": 1402}
        task = {
            "id": uuid.uuid4().hex,
            "model": model,
            "inputs": inputs,
            "created_at": time.time(),
            "latency": self.latency,
            "price": str(schema.price(model, inputs)),
            "fail": None
            if fail is None
            else {"code": int(fail["code"]), "message": fail.get("message") or TERMINAL_FAILURES.get(int(fail["code"]), "Task failed")},
        }
        with self._lock:
            self.tasks[task["id"]] = task
            self._counters["submissions"] += 1
            self.save()
        return task

    def _media_urls_exist(self, inputs: dict[str, Any]) -> bool:
        """Our own upload URLs must point at a finished upload, as the real provider fetches them."""
        for url in [*inputs.get("images", []), inputs.get("video")]:
            if isinstance(url, str) and url.startswith(self.base_url + "/media/uploads/"):
                token = url[len(self.base_url + "/media/uploads/") :].split("/", 1)[0]
                if not self.uploads.get(token, {}).get("done"):
                    return False
        return True

    def status_of(self, task: dict[str, Any]) -> str:
        elapsed = time.time() - task["created_at"]
        if elapsed >= task["latency"]:
            return "failed" if task["fail"] else "completed"
        return "created" if elapsed < task["latency"] * 0.25 else "processing"

    def prediction(self, task: dict[str, Any], *, with_inputs: bool = False) -> dict[str, Any]:
        status = self.status_of(task)
        outputs: list[str] = []
        if status == "completed":
            inputs = task["inputs"]
            sound = bool(inputs.get("sound")) and not inputs.get("video")
            ensure_clip(self.clips_dir, inputs["duration"], inputs["aspect_ratio"], sound, inputs["prompt"])
            outputs = [f"{self.base_url}/media/outputs/{task['id']}.mp4"]
        data: dict[str, Any] = {
            "id": task["id"],
            "model": task["model"],
            "status": status,
            "outputs": outputs,
            "urls": {"get": f"{self.base_url}/api/v3/predictions/{task['id']}/result"},
            "created_at": _iso(task["created_at"]),
            "error": "",
            "has_nsfw_contents": [],
            "timings": {"inference": int(task["latency"] * 1000)} if status == "completed" else {},
        }
        if status == "failed":
            data["error"] = f"{task['fail']['message']} (code {task['fail']['code']})"
            data["code"] = task["fail"]["code"]
        if with_inputs:
            data["inputs"] = task["inputs"]
        return data

    def output_path(self, task_id: str) -> Path | None:
        task = self.tasks.get(task_id)
        if task is None or self.status_of(task) != "completed":
            return None
        inputs = task["inputs"]
        sound = bool(inputs.get("sound")) and not inputs.get("video")
        return ensure_clip(self.clips_dir, inputs["duration"], inputs["aspect_ratio"], sound, inputs["prompt"])

    def balance(self) -> Decimal:
        with self._lock:
            spent = sum(Decimal(t["price"]) for t in self.tasks.values() if not t["fail"])
        return self._initial_balance - spent

    def new_upload(self, filename: str, size: int | None, content_type: str | None) -> dict[str, Any]:
        token = uuid.uuid4().hex
        name = _SAFE_NAME.sub("_", Path(filename or "upload").name) or "upload"
        record = {"token": token, "name": name, "size": size, "content_type": content_type, "done": False}
        with self._lock:
            self.uploads[token] = record
        return record

    def finish_upload(self, token: str, data: bytes) -> None:
        record = self.uploads[token]
        target = self.media_dir / "uploads" / token / record["name"]
        atomic_write_bytes(target, data)
        with self._lock:
            record["done"] = True
            record["size"] = len(data)
            self._counters["uploads"] += 1
            self.save()

    def download_url(self, record: dict[str, Any]) -> str:
        return f"{self.base_url}/media/uploads/{record['token']}/{record['name']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.wavespeed", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds from submit to completed")
    parser.add_argument("--state", type=Path, help="JSON file that keeps tasks and uploads across restarts")
    parser.add_argument("--api-key", help="the only key accepted (default: any non-empty key)")
    args = parser.parse_args(argv)
    fake = FakeWaveSpeed(host=args.host, port=args.port, latency=args.latency, state=args.state, api_key=args.api_key)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    fake.start()
    print(fake.base_url, flush=True)
    stop.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
