"""A loopback Kling API: Omni-Video tasks (``kling_schema``) on a real HTTP server.

Answers and their sources (Kling API reference: General Information, Omni-Video):
- auth: ``Authorization: Bearer <JWT>``, HS256 with the secret key, ``iss`` = the access key, ``exp`` and
  ``nbf`` enforced (the reference's token recipe); otherwise 401 with code 1000-1004.
- every answer is ``{code, message, request_id, data}``; errors use the reference's table (HTTP status
  and code): 1201 invalid parameter (400), 1203 no such resource (404), 1302 rate limit (429), 5000
  internal error (500).
- ``POST /v1/videos/omni-video`` → ``data {task_id, task_status: submitted, task_info {external_task_id},
  created_at, updated_at}``; an ``external_task_id`` already used in the account is refused with 1201
  (the reference requires uniqueness; the code for the refusal is not documented: strict, a refusal).
- ``GET /v1/videos/omni-video/{id}`` takes the task id or the external_task_id ("choose either");
  ``task_status`` submitted → processing → succeed | failed, ``task_status_msg``, ``task_result.videos
  [{id, url, duration}]``, ``final_unit_deduction``; ``GET /v1/videos/omni-video?pageNum&pageSize``
  lists tasks (newest first).
Invalid input is refused at submit (the reference lists parameter errors as HTTP 400 answers).

Faults (``POST /_fake/faults``): ``submit`` (429 → 1302 and no task; 5xx and "drop" create the task
first unless ``"create": false``), ``poll`` (every GET of a task, lookups by external id included),
``fail_tasks`` (``message`` becomes ``task_status_msg``), ``truncate_downloads``, ``slow``.
Counters: ``submissions`` (tasks created), ``submit_requests``, ``polls``, ``lookups`` (GETs by
external id), ``lists``, ``downloads``.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from . import kling_schema as schema
from .loopback import JsonHandler, LoopbackServer

ROUTE = "/v1/videos/omni-video"


class KlingHandler(JsonHandler):
    server_version = "FakeKling/1.0"

    def _reply(self, status: int, code: int, message: str, data: Any = None, headers: dict | None = None) -> None:
        self.send_json(status, {"code": code, "message": message, "request_id": uuid.uuid4().hex, "data": data},
                       headers)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        if not token:
            self.body()
            self._reply(401, 1001, "Authorization is empty")
            return False
        try:
            claims = jwt.decode(token, self.fake.secret_key, algorithms=["HS256"], options={"require": ["exp", "nbf"]})
        except jwt.ExpiredSignatureError:
            code, message = 1004, "Authorization has expired"
        except jwt.ImmatureSignatureError:
            code, message = 1003, "Authorization is not yet valid"
        except jwt.PyJWTError:
            code, message = 1002, "Authorization is invalid"
        else:
            if claims.get("iss") == self.fake.access_key:
                return True
            code, message = 1002, "Authorization is invalid"
        self.body()
        self._reply(401, code, message)
        return False

    def failure(self, status: int, headers: dict[str, str] | None = None) -> None:
        if status == 429:
            self._reply(429, 1302, "The API request is too fast")
        else:
            self._reply(status, 5000, "Server internal error")

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.control("GET"):
            return
        route = self.route
        match = re.fullmatch(r"/media/outputs/([0-9]+)\.mp4", route)
        if match:
            path = self.fake.output_path(match.group(1))
            return self.serve_file(path, "video/mp4", output=True) if path else self._reply(404, 1203, "gone")
        if not route.startswith(ROUTE):
            return self._reply(404, 1202, f"no route GET {route}")
        if not self._authorized():
            return None
        if route == ROUTE:
            self.fake.count("lists")
            query = parse_qs(urlsplit(self.path).query)
            page, size = int(query.get("pageNum", ["1"])[0]), int(query.get("pageSize", ["30"])[0])
            tasks = sorted(self.fake.tasks.values(), key=lambda t: t["created_at"], reverse=True)
            return self._reply(200, 0, "SUCCEED", [self.fake.view(t) for t in tasks[(page - 1) * size: page * size]])
        ref = route[len(ROUTE) + 1:]
        by_external = not ref.isdigit()
        self.fake.count("lookups" if by_external else "polls")
        if self.injected("poll"):
            return None
        self.slow("poll")
        task = self.fake.find(ref)
        if task is None:
            return self._reply(404, 1203, "The requested resource does not exist")
        return self._reply(200, 0, "SUCCEED", self.fake.view(task))

    def do_POST(self) -> None:  # noqa: N802
        if self.control("POST"):
            return
        if self.route != ROUTE:
            self.body()
            return self._reply(404, 1202, f"no route POST {self.route}")
        if not self._authorized():
            return None
        self.fake.count("submit_requests")
        body = self.json_body()
        try:
            clip = schema.validate(body)
        except schema.InputError as exc:
            return self._reply(400 if exc.code != 1203 else 404, exc.code, str(exc))
        external = body.get("external_task_id") or None
        if external is not None and self.fake.find(external) is not None:
            return self._reply(400, 1201, f"external_task_id {external} already exists")
        rule = self.fake.faults.take("submit")
        if rule and rule.get("status") == 429:
            return self._reply(429, 1302, "The API request is too fast, exceeding the platform's rate limit")
        if rule and not rule.get("create", True):
            return self.drop() if rule.get("status") == "drop" else self._reply(int(rule.get("status", 500)), 5000,
                                                                              "Server internal error")
        task = self.fake.create_task(body, clip, external)
        self.slow("submit")
        if rule:
            return self.drop() if rule.get("status") == "drop" else self._reply(int(rule.get("status", 500)), 5000,
                                                                              "Server internal error")
        view = self.fake.view(task)
        return self._reply(200, 0, "SUCCEED", {k: view[k] for k in ("task_id", "task_status", "task_info",
                                                                       "created_at", "updated_at")})


class FakeKling(LoopbackServer):
    counters = ("submissions", "submit_requests", "polls", "lookups", "lists", "downloads")
    handler = KlingHandler

    def __init__(self, *, latency: float = 0.0, access_key: str = "ak-test", secret_key: str = "sk-test",
                 clips_dir: Path | None = None) -> None:
        super().__init__(latency=latency, clips_dir=clips_dir)
        self.access_key, self.secret_key = access_key, secret_key
        self._next_id = 860000000000000000

    def create_task(self, body: dict[str, Any], clip: dict[str, Any], external: str | None) -> dict[str, Any]:
        rule = self.faults.take("fail_tasks")
        with self.lock:
            self._next_id += 1
            task = {"id": str(self._next_id), "external_task_id": external, "inputs": body, "clip": clip,
                    "fail": (rule.get("message") or "Failure to pass the risk control system") if rule else None,
                    "created_at": time.time(), "latency": self.latency}
            self.tasks[task["id"]] = task
            self._counters["submissions"] += 1
        return task

    def find(self, ref: str) -> dict[str, Any] | None:
        with self.lock:
            task = self.tasks.get(ref)
            return task or next((t for t in self.tasks.values() if t["external_task_id"] == ref), None)

    def status_of(self, task: dict[str, Any]) -> str:
        share = self.elapsed_share(task)
        if share < 1:
            return "submitted" if share < 0.25 else "processing"
        return "failed" if task["fail"] else "succeed"

    def view(self, task: dict[str, Any]) -> dict[str, Any]:
        status = self.status_of(task)
        millis = int(task["created_at"] * 1000)
        data: dict[str, Any] = {
            "task_id": task["id"], "task_status": status, "task_status_msg": task["fail"] if status == "failed" else "",
            "task_info": {"external_task_id": task["external_task_id"] or ""},
            "created_at": millis, "updated_at": millis, "task_result": {},
        }
        if status == "succeed":
            clip = task["clip"]
            data["task_result"] = {"videos": [{"id": f"v{task['id']}", "duration": str(clip["duration"]),
                                               "url": f"{self.base_url}/media/outputs/{task['id']}.mp4"}]}
            data["final_unit_deduction"] = str(clip["duration"] * (2 if clip["mode"] == "pro" else 1))
        return data

    def output_path(self, task_id: str) -> Path | None:
        task = self.tasks.get(task_id)
        if task is None or self.status_of(task) != "succeed":
            return None
        clip = task["clip"]
        return self.clip(clip["duration"], clip["aspect_ratio"], clip["sound"], clip["seed"])
