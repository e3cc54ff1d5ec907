"""A loopback fal.ai: the queue API, fal storage uploads and the Kling O3 / Seedance endpoints
(``fal_schema``), on a real HTTP server. One base URL serves what production splits over
queue.fal.run and rest.fal.ai, as ``FAL_BASE_URL`` does for the backend.

Answers and their sources:
- auth: ``Authorization: Key <key>`` (fal.ai/docs/api-reference/inference-api); anything else 401.
- submit ``POST /{endpoint_id}`` → 200 ``{request_id, response_url, status_url, cancel_url, queue_position}``
  (fal.ai/docs/documentation/model-apis/inference/queue); status and result URLs use the owner and app
  only ("The status, result, and cancel URLs use only the owner and the app").
- status ``GET /{owner}/{app}/requests/{id}/status`` → 202 ``IN_QUEUE`` (``queue_position``) or
  ``IN_PROGRESS`` (``logs``), 200 ``COMPLETED`` (``logs``, ``metrics``; ``error``/``error_type`` when
  it failed) (inference-api: "202 while the request is in the queue or in progress, and 200 when it is
  complete"; fal-client ``_parse_status``). Unknown request: 404.
- result ``GET /{owner}/{app}/requests/{id}`` → the output ``{"video": {url, content_type, file_name,
  file_size}}``, or the model's error with its status ("If the model returned an error, this operation
  returns the same error", fal.ai/docs/inference-api/queue/result): model errors 422 ``{"detail":
  [{loc, msg, type}]}``, request errors 5xx ``{"detail", "error_type"}`` plus ``X-Fal-Error-Type``.
  Strict where the docs are silent: a result asked for before completion is a 400, and input errors
  surface here, after the request was created (a 422 may be billed), not at submit.
- storage: ``POST /storage/upload/initiate?storage_type=gcs`` with ``{file_name, content_type}`` →
  ``{upload_url, file_url}``; ``PUT upload_url`` with the bytes and no Authorization (fal-client
  ``_async_upload_via_storage``); ``file_url`` serves them without auth.

Faults (``POST /_fake/faults``, rules of ``wavespeed_faults``): ``submit`` (429 never creates; 5xx and
"drop" create the request first unless ``"create": false``), ``poll`` (status and result GETs),
``upload`` (storage initiate), ``fail_tasks`` (``code`` 422 → content_policy_violation, 5xx → a
request error of that status), ``truncate_downloads``, ``slow``.
Counters: ``submissions`` (requests created), ``submit_requests``, ``polls``, ``results``, ``uploads``,
``downloads``.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

from reelmake.fsutil import atomic_write_bytes

from . import fal_schema as schema
from .loopback import JsonHandler, LoopbackServer

REQUEST_ERRORS = {500: "internal_server_error", 503: "runner_disconnected", 504: "request_timeout"}


class FalHandler(JsonHandler):
    server_version = "FakeFal/1.0"

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        key = header[4:].strip() if header.startswith("Key ") else ""
        if key and (self.fake.api_key is None or key == self.fake.api_key):
            return True
        self.body()
        self.send_json(401, {"detail": "Invalid or missing API key"})
        return False

    def failure(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_json(status, {"detail": "Too many requests" if status == 429 else "Bad gateway"}, headers)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.control("GET"):
            return
        route = self.route
        match = re.fullmatch(r"/media/outputs/([0-9a-f-]+)\.mp4", route)
        if match:
            path = self.fake.output_path(match.group(1))
            return self.serve_file(path, "video/mp4", output=True) if path else self.send_json(404, {"detail": "gone"})
        match = re.fullmatch(r"/files/([0-9a-f]+)/([^/]+)", route)
        if match:
            path = self.fake.media_dir / "uploads" / match.group(1) / match.group(2)
            if not path.exists():
                return self.send_json(404, {"detail": "file not found"})
            return self.serve_file(path, "application/octet-stream", output=False)
        match = re.fullmatch(r"/(.+)/requests/([0-9a-f-]+)(/status)?", route)
        if match is None:
            return self.send_json(404, {"detail": f"no route GET {route}"})
        if not self._authorized():
            return None
        self.fake.count("polls" if match.group(3) else "results")
        if self.injected("poll"):
            return None
        self.slow("poll")
        task = self.fake.tasks.get(match.group(2))
        if task is None or self.fake.app_of(task["endpoint"]) != match.group(1):
            return self.send_json(404, {"detail": "Request not found"})
        return self._status(task) if match.group(3) else self._result(task)

    def _status(self, task: dict[str, Any]) -> None:
        share = self.fake.elapsed_share(task)
        if share < 0.25:
            return self.send_json(202, {"status": "IN_QUEUE", "queue_position": 0,
                                        "response_url": self.fake.request_url(task)})
        if share < 1:
            return self.send_json(202, {"status": "IN_PROGRESS", "logs": [],
                                        "response_url": self.fake.request_url(task)})
        body: dict[str, Any] = {"status": "COMPLETED", "logs": [], "metrics": {"inference_time": task["latency"]},
                                "response_url": self.fake.request_url(task)}
        if task["fail"]:
            body.update(error=task["fail"]["message"], error_type=task["fail"]["type"])
        return self.send_json(200, body)

    def _result(self, task: dict[str, Any]) -> None:
        if self.fake.elapsed_share(task) < 1:
            return self.send_json(400, {"detail": "Request is still in progress"})
        fail = task["fail"]
        if fail and fail["status"] == 422:
            return self.send_json(422, {"detail": fail["detail"]})
        if fail:
            return self.send_json(fail["status"], {"detail": fail["message"], "error_type": fail["type"]},
                                  {"X-Fal-Error-Type": fail["type"]})
        path = self.fake.output_path(task["id"])
        return self.send_json(200, {"video": {"url": f"{self.fake.base_url}/media/outputs/{task['id']}.mp4",
                                              "content_type": "video/mp4", "file_name": "output.mp4",
                                              "file_size": path.stat().st_size if path else 0}})

    def do_PUT(self) -> None:  # noqa: N802
        match = re.fullmatch(r"/_upload/([0-9a-f]+)", self.route)
        record = self.fake.uploads.get(match.group(1)) if match else None
        data = self.body()
        if record is None:
            return self.send_json(404, {"detail": "unknown upload URL"})
        if "Authorization" in self.headers:  # a pre-signed URL; fal-client sends only Content-Type
            return self.send_json(400, {"detail": "pre-signed upload URLs take no Authorization header"})
        self.fake.finish_upload(record, data)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def do_POST(self) -> None:  # noqa: N802
        if self.control("POST"):
            return
        if not self._authorized():
            return None
        route = self.route
        if route == "/storage/upload/initiate":
            query = self.json_body()
            if self.injected("upload"):
                return None
            if not isinstance(query, dict) or not isinstance(query.get("file_name"), str):
                return self.send_json(422, {"detail": [{"loc": ["body", "file_name"], "msg": "required",
                                                        "type": "missing"}]})
            record = self.fake.new_upload(query["file_name"], self.headers.get("X-Fal-Object-Lifecycle-Preference"))
            return self.send_json(200, {"upload_url": f"{self.fake.base_url}/_upload/{record['token']}",
                                        "file_url": f"{self.fake.base_url}/files/{record['token']}/{record['name']}"})
        endpoint = route.strip("/")
        self.fake.count("submit_requests")
        body = self.json_body()
        if endpoint not in schema.ENDPOINTS:
            return self.send_json(404, {"detail": f"Application {endpoint!r} not found"})
        rule = self.fake.faults.take("submit")
        if rule and rule.get("status") == 429:
            headers = {"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") is not None else None
            return self.send_json(429, {"detail": "Too many requests"}, headers)
        if rule and not rule.get("create", True):
            return self.drop() if rule.get("status") == "drop" else self.send_json(int(rule.get("status", 502)),
                                                                                  {"detail": "Bad gateway"})
        task = self.fake.create_task(endpoint, body)
        self.slow("submit")
        if rule:
            return self.drop() if rule.get("status") == "drop" else self.send_json(int(rule.get("status", 502)),
                                                                                  {"detail": "Bad gateway"})
        url = self.fake.request_url(task)
        return self.send_json(200, {"request_id": task["id"], "response_url": url, "status_url": f"{url}/status",
                                    "cancel_url": f"{url}/cancel", "queue_position": 0},
                              {"x-fal-request-id": task["id"]})


class FakeFal(LoopbackServer):
    counters = ("submissions", "submit_requests", "polls", "results", "uploads", "downloads")
    handler = FalHandler

    def __init__(self, *, latency: float = 0.0, api_key: str | None = None, clips_dir: Path | None = None) -> None:
        super().__init__(latency=latency, clips_dir=clips_dir)
        self.api_key = api_key
        self.uploads: dict[str, dict[str, Any]] = {}

    @staticmethod
    def app_of(endpoint: str) -> str:
        return "/".join(endpoint.split("/")[:2])

    def request_url(self, task: dict[str, Any]) -> str:
        return f"{self.base_url}/{self.app_of(task['endpoint'])}/requests/{task['id']}"

    def create_task(self, endpoint: str, body: Any) -> dict[str, Any]:
        fail, clip = None, None
        try:
            clip = schema.validate(endpoint, body)
            self._check_uploads(body)
        except schema.InputError as exc:
            fail = {"status": 422, "type": "validation_error", "message": str(exc), "detail": exc.detail}
        rule = self.faults.take("fail_tasks") if fail is None else None
        if rule:
            status = int(rule.get("code", 422))
            kind = "content_policy_violation" if status == 422 else REQUEST_ERRORS.get(status, "internal_server_error")
            message = rule.get("message") or ("The content was flagged by a content checker." if status == 422
                                              else "Runner failed")
            fail = {"status": status, "type": kind, "message": message,
                    "detail": [{"loc": ["body", "prompt"], "msg": message, "type": kind}]}
        task = {"id": str(uuid.uuid4()), "endpoint": endpoint, "inputs": body, "clip": clip, "fail": fail,
                "created_at": time.time(), "latency": self.latency}
        with self.lock:
            self.tasks[task["id"]] = task
            self._counters["submissions"] += 1
        return task

    def _check_uploads(self, body: Any) -> None:
        """URLs of our own storage must name a finished upload, as the real model fetches them."""
        text = str(body)
        for token in re.findall(re.escape(self.base_url) + r"/files/([0-9a-f]+)/", text):
            if not self.uploads.get(token, {}).get("done"):
                raise schema.InputError("image_urls", "a file URL could not be downloaded", "file_download_error")

    def output_path(self, task_id: str) -> Path | None:
        task = self.tasks.get(task_id)
        if task is None or task["fail"] or self.elapsed_share(task) < 1:
            return None
        clip = task["clip"]
        return self.clip(clip["duration"], clip["aspect_ratio"], clip["sound"], clip["seed"])

    def new_upload(self, file_name: str, lifecycle: str | None) -> dict[str, Any]:
        token = uuid.uuid4().hex
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(file_name).name) or "upload"
        record = {"token": token, "name": name, "done": False, "lifecycle": lifecycle}
        with self.lock:
            self.uploads[token] = record
        return record

    def finish_upload(self, record: dict[str, Any], data: bytes) -> None:
        atomic_write_bytes(self.media_dir / "uploads" / record["token"] / record["name"], data)
        with self.lock:
            record["done"] = True
            self._counters["uploads"] += 1
