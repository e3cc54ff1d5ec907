"""What the loopback fakes of WaveSpeed, fal and Kling share: a threaded HTTP server with counters, the
fault rule book (``wavespeed_faults``), the ``/_fake`` control routes, and real mp4 outputs
(``wavespeed_media``) served with optional truncation.

Control routes (no auth): ``GET /_fake/stats`` (counters), ``GET /_fake/tasks`` (every task with its
inputs), ``GET /_fake/faults`` (the rules in force), ``POST /_fake/faults`` (a fault spec, see
``wavespeed_faults``), ``DELETE /_fake/faults``.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .wavespeed_faults import FaultError, Faults
from .wavespeed_media import ensure_clip


class LoopbackServer:
    """A fake provider on 127.0.0.1; ``start()``/``stop()`` or a context manager.

    ``media_dir`` (uploads, outputs) is a temporary folder removed by ``stop()`` unless one is given, which
    is kept (a fake restarted on the same state finds its files again)."""

    counters: tuple[str, ...] = ()
    handler: type[BaseHTTPRequestHandler]

    def __init__(self, *, latency: float = 0.0, clips_dir: Path | None = None, host: str = "127.0.0.1",
                 port: int = 0, media_dir: Path | None = None) -> None:
        self.latency = latency
        self.faults = Faults()
        self.lock = threading.RLock()
        self._owns_media = media_dir is None
        prefix = f"fake-{type(self).__name__.lower()}-"
        self.media_dir = Path(media_dir) if media_dir else Path(tempfile.mkdtemp(prefix=prefix))
        self.media_dir.mkdir(parents=True, exist_ok=True)
        # Generated outputs depend only on their parameters, so a test suite may share one directory.
        self.clips_dir = Path(clips_dir) if clips_dir else self.media_dir / "clips"
        self._counters = dict.fromkeys(self.counters, 0)
        self.tasks: dict[str, dict[str, Any]] = {}
        self._server = ThreadingHTTPServer((host, port), self.handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._owns_media:
            shutil.rmtree(self.media_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, int]:
        with self.lock:
            return dict(self._counters)

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self._counters[name] += n

    def set_faults(self, spec: dict[str, Any]) -> None:
        self.faults.configure(spec)

    def elapsed_share(self, task: dict[str, Any]) -> float:
        """How far along a task is: 0 at creation, 1 once ``latency`` has passed (wall clock)."""
        if task["latency"] <= 0:
            return 1.0
        return (time.time() - task["created_at"]) / task["latency"]

    def clip(self, duration: int, aspect: str, sound: bool, seed: str) -> Path:
        return ensure_clip(self.clips_dir, duration, aspect, sound, seed)


class JsonHandler(BaseHTTPRequestHandler):
    """Plumbing for the fakes' handlers; ``self.fake`` is the :class:`LoopbackServer`."""

    protocol_version = "HTTP/1.1"

    @property
    def fake(self) -> Any:
        return self.server.fake  # type: ignore[attr-defined]

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def json_body(self, empty: Any = None) -> Any:
        """The request's JSON (``empty`` for an empty body), None when it is not JSON."""
        data = self.body()
        if not data:
            return empty
        try:
            return json.loads(data)
        except ValueError:
            return None

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def drop(self) -> None:
        """Close the connection without an answer, as a crashed gateway would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def injected(self, kind: str) -> bool:
        """Answer with the injected failure of ``kind`` when its rule fires: a dropped connection, or the
        fake's own :meth:`failure` (with ``Retry-After`` when the rule gives one). True when answered."""
        rule = self.fake.faults.take(kind)
        if rule is None:
            return False
        status = rule.get("status", 500)
        if status == "drop":
            self.drop()
        else:
            headers = {"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") is not None else None
            self.failure(int(status), headers)
        return True

    def failure(self, status: int, headers: dict[str, str] | None = None) -> None:
        """The provider's answer to an injected 429 or 5xx, in its own error format."""
        raise NotImplementedError

    def slow(self, route: str) -> None:
        rule = self.fake.faults.take("slow", route)
        if rule:
            time.sleep(float(rule.get("seconds", 1.0)))

    def control(self, method: str) -> bool:
        """The ``/_fake`` routes; True when this request was one of them."""
        route = self.route
        if not route.startswith("/_fake/"):
            return False
        if method == "GET" and route == "/_fake/stats":
            self.send_json(200, self.fake.stats())
        elif method == "GET" and route == "/_fake/tasks":
            with self.fake.lock:
                self.send_json(200, list(self.fake.tasks.values()))
        elif method == "GET" and route == "/_fake/faults":
            self.send_json(200, self.fake.faults.snapshot())
        elif method == "POST" and route == "/_fake/faults":
            spec = self.json_body()
            try:
                self.fake.faults.configure(spec if isinstance(spec, dict) else {})
            except FaultError as exc:
                self.send_json(400, {"error": str(exc)})
            else:
                self.send_json(200, self.fake.faults.snapshot())
        elif method == "DELETE" and route == "/_fake/faults":
            self.fake.faults.configure({"reset": True})
            self.send_json(200, self.fake.faults.snapshot())
        else:
            self.body()  # read, so the connection stays usable
            self.send_json(404, {"error": "no such control route"})
        return True

    def serve_file(self, path: Path, content_type: str, *, output: bool) -> None:
        """A pre-signed media URL: no Authorization header accepted; outputs count as downloads and may
        be truncated ("body": full Content-Length then a cut; "file": half a file presented as whole)."""
        if "Authorization" in self.headers:
            self.send_json(400, {"detail": "media URLs are pre-signed and take no Authorization header"})
            return
        data = path.read_bytes()
        truncate = None
        if output:
            self.fake.count("downloads")
            self.slow("download")
            truncate = self.fake.faults.take("truncate_downloads")
        announced = len(data)
        if truncate:
            data = data[: len(data) // 2]
            if truncate.get("mode", "body") == "file":
                announced = len(data)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(data)
        if announced != len(data):
            self.drop()
