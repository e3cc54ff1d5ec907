"""A loopback WaveSpeed provider built from WaveSpeed's documentation, not from our client.

Every answer cites where it comes from (a page of https://wavespeed.ai/docs, or the official SDK
wavespeed 2.0.5, ``src/wavespeed/api/client.py``); where the documentation is silent the fake decides
in the direction that costs the user money (see ``wavespeed_account`` and ``wavespeed_schema``). The
official SDK runs against it unchanged (tests/test_fake_wavespeed.py).

Tasks are ``created`` → ``processing`` → ``completed`` (or ``failed``) on the wall clock, so a restart
keeps their progress; the account's tier limits how many start per window and how many run at once
(over the limit a task waits in ``created``, as the account-levels page says). Outputs are real mp4
files of the requested duration and aspect ratio served from the fake's own URL; tasks and uploads
persist in ``--state FILE`` (atomic JSON). History items carry only the documented fields: no inputs.

In tests::

    with FakeWaveSpeed(latency=0.2, api_key="k", tier="bronze", window=1.0) as fake:
        fake.base_url            # http://127.0.0.1:PORT
        fake.stats()             # {"submissions", "polls", "uploads", "downloads", "rate_limited", ...}
        fake.set_faults({"submit": {"status": 500, "count": 1}})

As a process (prints its base URL on the first line)::

    python -m tests.fakes.wavespeed --port 0 --latency 2 --state /tmp/ws.json [--api-key KEY]
        [--tier bronze|silver|gold|ultra] [--window SECONDS] [--over-concurrency queue|reject]

Auth: every ``/api/v3`` route wants ``Authorization: Bearer <key>`` (the configured key, or any
non-empty key when none is configured); otherwise 401 (whose message echoes the presented key, as
careless servers do, so clients prove they scrub it). Upload PUT URLs and media URLs are pre-signed:
they take no Authorization header and refuse one.

Control routes (no auth):

- ``GET /_fake/stats`` → ``{"submissions": tasks created, "submit_requests": submit POSTs received,
  "rate_limited": submits refused by the tier (429), "queued": tasks that waited for a concurrency slot,
  "ignored_fields": unknown input fields received, "polls", "uploads" (completed), "downloads" (output
  GETs), "history", "price", "balance"}``.
- ``GET /_fake/tasks`` → every task with its inputs (what a history item never shows).
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
import signal
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from reelmake.fsutil import atomic_write_bytes, atomic_write_text

from . import wavespeed_schema as schema
from .loopback import LoopbackServer
from .wavespeed_account import TIERS, Limits, Tier
from .wavespeed_handler import Handler
from .wavespeed_media import ensure_image

# https://wavespeed.ai/docs/error-codes: names of the codes a failed task carries in data.code.
TERMINAL_FAILURES = {
    1200: "Content moderation: the content contains sensitive information",
    1400: "Missing required parameter",
    1401: "Invalid parameter",
    1402: "Media access failed: unable to access the provided media URL",
    1403: "Task execution failed",
    1405: "Task failed",
    5000: "Internal error",
    5003: "Service unavailable",
    5004: "Timeout",
}
# "Predictions are stored for 7 days" (https://wavespeed.ai/docs/what-are-predictions); the history API
# "can only retrieve prediction data from the past 7 days" (/docs/docs-common-api/predictions).
RETENTION = 7 * 24 * 3600.0
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _iso(ts: float) -> str:
    # Nanosecond precision and a Z, as the documented examples ("2025-05-19T06:09:15.948268264Z").
    whole = datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{int(round((ts % 1) * 1e9)):09d}Z"


class FakeWaveSpeed(LoopbackServer):
    """The fake provider; ``start()``/``stop()`` or use it as a context manager.

    ``tier`` is an account level (or a :class:`Tier`) and ``window`` the length of its "minute" in
    seconds; ``over_concurrency`` is "queue" (documented) or "reject" (see ``wavespeed_account``).
    ``discount_rate`` is what the price endpoint reports (its meaning is not documented)."""

    counters = ("submissions", "submit_requests", "rate_limited", "queued", "ignored_fields", "polls", "uploads",
                "downloads", "history", "price", "balance")
    handler = Handler

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
        tier: str | Tier = "bronze",
        window: float = 60.0,
        over_concurrency: str = "queue",
        discount_rate: float = 1.0,
    ) -> None:
        self._state_path = Path(state) if state else None
        super().__init__(latency=latency, clips_dir=clips_dir, host=host, port=port,
                         media_dir=Path(str(self._state_path) + ".d") if self._state_path else None)
        self.api_key = api_key
        self.limits = Limits(tier, window=window, over_concurrency=over_concurrency)
        self.discount_rate = discount_rate
        self._initial_balance = balance
        self.uploads: dict[str, dict[str, Any]] = {}
        if self._state_path and self._state_path.exists():
            saved = json.loads(self._state_path.read_text())
            self.tasks, self.uploads = saved.get("tasks", {}), saved.get("uploads", {})

    # --- state -------------------------------------------------------------------------------

    def save(self) -> None:
        if self._state_path:
            with self.lock:
                atomic_write_text(self._state_path, json.dumps({"tasks": self.tasks, "uploads": self.uploads}))

    def create_task(self, model: str, inputs: dict[str, Any], webhook: str | None = None) -> dict[str, Any] | None:
        """Create a billed task, or None when the tier refuses it (the caller answers 429).

        The check and the creation happen under one lock: two submits racing for the last slot of a
        window cannot both get it."""
        fail = self.faults.take("fail_tasks")
        if fail is None and not self._media_urls_exist(inputs):
            fail = {"code": 1402}
        with self.lock:
            now = time.time()
            if not self.limits.rate_allows(now, [t["created_at"] for t in self.tasks.values()]):
                self._counters["rate_limited"] += 1
                return None
            started = self.limits.start_time(now, [t["started_at"] + t["latency"] for t in self.tasks.values()])
            if started is None:
                self._counters["rate_limited"] += 1
                return None
            task = {
                "id": uuid.uuid4().hex,
                "model": model,
                "inputs": inputs,
                "webhook": webhook,
                "created_at": now,
                "started_at": started,
                "latency": self.latency,
                "price": str(schema.price(model, inputs)),
                "fail": None
                if fail is None
                else {"code": int(fail["code"]), "message": fail.get("message") or TERMINAL_FAILURES.get(int(fail["code"]), "Task failed")},
            }
            self.tasks[task["id"]] = task
            self._counters["submissions"] += 1
            self._counters["queued"] += started > now
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
        """https://wavespeed.ai/docs/what-are-predictions: created (queued) → processing → completed | failed."""
        now = time.time()
        started, latency = task.get("started_at", task["created_at"]), task["latency"]
        if now >= started + latency:
            return "failed" if task["fail"] else "completed"
        return "created" if now < started + latency * 0.25 else "processing"

    def _output_file(self, task: dict[str, Any]) -> Path:
        inputs = task["inputs"]
        if "format" in inputs:  # an image model's task (wavespeed_images)
            return ensure_image(self.clips_dir, inputs["width"], inputs["height"], inputs["format"], inputs["prompt"])
        sound = bool(inputs.get("sound")) and not inputs.get("video")
        return self.clip(inputs["duration"], inputs["aspect_ratio"], sound, inputs["prompt"])

    def _outputs(self, task: dict[str, Any], status: str) -> list[str]:
        if status != "completed":
            return []
        suffix = self._output_file(task).suffix
        return [f"{self.base_url}/media/outputs/{task['id']}{suffix}"]

    def prediction(self, task: dict[str, Any]) -> dict[str, Any]:
        """The ``data`` of a submit answer or a result GET: the fields of
        https://wavespeed.ai/docs/shared/submit-response (id, model, outputs, urls.get, has_nsfw_contents,
        status, created_at, error, timings.inference); a failed task adds ``code``
        (https://wavespeed.ai/docs/error-codes)."""
        status = self.status_of(task)
        outputs = self._outputs(task, status)
        data: dict[str, Any] = {
            "id": task["id"],
            "model": task["model"],
            "outputs": outputs,
            "urls": {"get": f"{self.base_url}/api/v3/predictions/{task['id']}/result"},
            "has_nsfw_contents": [False] * len(outputs),
            "status": status,
            "created_at": _iso(task["created_at"]),
            "error": "",
            "timings": {"inference": int(task["latency"] * 1000)} if status == "completed" else {},
        }
        if status == "failed":
            data["error"] = task["fail"]["message"]
            data["code"] = task["fail"]["code"]
        return data

    def history_item(self, task: dict[str, Any]) -> dict[str, Any]:
        """An item of ``POST /api/v3/predictions`` (https://wavespeed.ai/docs/docs-common-api/predictions):
        id, model, outputs, urls, has_nsfw_contents, status, created_at, error, executionTime, timings.
        Never the inputs: nothing in the documented item says what was asked for."""
        data = self.prediction(task)
        data.pop("code", None)
        data["executionTime"] = data["timings"].get("inference", 0)
        return data

    def history(self, *, model: str | None, status: str | None, after: float | None, before: float | None) -> list[dict[str, Any]]:
        """Tasks of the last 7 days matching the filters, most recent first (as documented)."""
        now = time.time()
        with self.lock:
            tasks = list(self.tasks.values())
        items = [
            t
            for t in tasks
            if t["created_at"] >= now - RETENTION
            and (after is None or t["created_at"] >= after)  # "created at or after"
            and (before is None or t["created_at"] <= before)
            and (not model or t["model"] == model)
            and (not status or self.status_of(t) == status)
        ]
        items.sort(key=lambda t: t["created_at"], reverse=True)
        return items

    def output_path(self, task_id: str) -> Path | None:
        task = self.tasks.get(task_id)
        if task is None or self.status_of(task) != "completed":
            return None
        return self._output_file(task)

    def balance(self) -> Decimal:
        # Failed tasks are not charged (PROVIDERS.md: "Failed tasks are refunded by the provider").
        with self.lock:
            spent = sum(Decimal(t["price"]) for t in self.tasks.values() if not t["fail"])
        return self._initial_balance - spent

    def new_upload(self, filename: str, size: int | None, content_type: str | None) -> dict[str, Any]:
        token = uuid.uuid4().hex
        name = _SAFE_NAME.sub("_", Path(filename or "upload").name) or "upload"
        record = {"token": token, "name": name, "size": size, "content_type": content_type, "done": False}
        with self.lock:
            self.uploads[token] = record
        return record

    def finish_upload(self, token: str, data: bytes) -> None:
        record = self.uploads[token]
        target = self.media_dir / "uploads" / token / record["name"]
        atomic_write_bytes(target, data)
        with self.lock:
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
    parser.add_argument("--tier", choices=sorted(TIERS), default="bronze", help="account level (default bronze)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds in the tier's minute (default 60)")
    parser.add_argument("--over-concurrency", choices=("queue", "reject"), default="queue")
    args = parser.parse_args(argv)
    fake = FakeWaveSpeed(host=args.host, port=args.port, latency=args.latency, state=args.state, api_key=args.api_key,
                         tier=args.tier, window=args.window, over_concurrency=args.over_concurrency)
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
