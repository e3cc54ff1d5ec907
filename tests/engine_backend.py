"""A test-only remote backend that counts submissions across processes.

It behaves like a paid provider: `submit` creates a task (recorded in a JSON state file under a
file lock, so a SIGKILLed process and its successor see the same provider), tasks complete after
a latency, and `reconcile` searches the task history. Faults are injected per shot id through
settings. Registered from tests (and from `python -m tests.engine_cli` for subprocess tests).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from filelock import FileLock

from reelmake.backends.wavespeed import compile as kling
from reelmake.catalog import register_model
from reelmake.errors import NotSent, SubmitAmbiguous, TaskFailed, TaskLost, Transient
from reelmake.jobs import Ambiguity, Reconciliation, RenderJob, TaskOutput
from reelmake.plugins import BackendPlugin, RequestFormat, register

MODEL = "counting-v1"


class ProviderState:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock = FileLock(str(self.path) + ".lock")

    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {"submissions": 0, "tasks": {}, "by_shot": {}}

    def update(self, change) -> Any:
        with self.lock:
            data = self.read()
            result = change(data)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self.path)
            return result


def _clip(directory: Path, duration: float, aspect: str) -> Path:
    """One tiny real clip per (duration, aspect), made once and copied: fast and still real media."""
    size = {"16:9": "64x36", "9:16": "36x64", "1:1": "48x48"}[aspect]
    path = directory / f"clip-{duration:g}-{aspect.replace(':', 'x')}.mp4"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=24:d={duration}",
                        "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(tmp)], check=True)
        tmp.replace(path)
    return path


class CountingBackend:
    name = "counting"
    remote = True

    def __init__(self, settings: dict[str, Any], folder: Path | None = None) -> None:
        self.settings = settings
        self.state = ProviderState(Path(settings["state"]))
        self.latency = float(settings.get("latency", 0.05))
        self.media = Path(settings["state"]).parent

    def preflight(self, jobs: list[RenderJob]) -> None:
        pass

    def _fault(self, kind: str, job: RenderJob) -> bool:
        return job.shot_id in self.settings.get(kind, [])

    async def submit(self, job: RenderJob, *, on_status=None, on_send=None) -> str:
        def create(data: dict) -> str:
            data["submissions"] += 1
            task_id = f"task-{data['submissions']}"
            data["tasks"][task_id] = {"key": job.key, "created": time.time(), "shot": job.shot_id}
            data["by_shot"][job.shot_id] = data["by_shot"].get(job.shot_id, 0) + 1
            return task_id

        if self._fault("refuse_submit", job):
            raise NotSent("connection refused")
        if on_send is not None:
            await on_send()
        task_id = self.state.update(create)
        if self._fault("lose_submit_answer", job):
            raise SubmitAmbiguous("the connection dropped after the request was sent")
        return task_id

    async def wait(self, job: RenderJob, task_id: str, on_status) -> TaskOutput:
        task = self.state.read()["tasks"].get(task_id)
        if task is None:
            raise Transient(f"unknown task {task_id}")
        if self.settings.get("forget_tasks") and task.get("done"):
            raise TaskLost(f"the provider deleted task {task_id}")  # outputs expire (WaveSpeed: 7 days)
        self.state.update(lambda data: data["tasks"][task_id].update(done=True))
        on_status("running", task_id)
        remaining = task["created"] + self.latency - time.time()
        if remaining > 0:
            await asyncio.sleep(remaining)
        if self._fault("fail_task", job):
            raise TaskFailed("the provider failed the task (refunded)", retryable=False, task_id=task_id)
        if self._fault("lose_contact", job):
            raise Transient("401 while polling", task_id=task_id)
        return TaskOutput(task_id, ())

    async def fetch(self, job: RenderJob, output: TaskOutput, dest: Path) -> None:
        source = await asyncio.to_thread(_clip, self.media, job.duration, job.aspect_ratio)
        shutil.copyfile(source, dest)

    async def reconcile(self, job: RenderJob, ambiguity: Ambiguity) -> Reconciliation:
        # A test provider whose history shows which render a task was for (WaveSpeed's does not).
        tasks = self.state.read()["tasks"]
        for task_id, task in tasks.items():
            if task["key"] == job.key and task["created"] >= ambiguity.since - 1 and task_id not in ambiguity.known:
                return Reconciliation(task_id, (task_id,))
        return Reconciliation()

    async def aclose(self) -> None:
        pass


def install() -> None:
    """Register the backend and a paid model for it (0.10 USD per second, sound 0.20)."""
    register(BackendPlugin(
        name="counting", remote=True, factory=CountingBackend,
        compilers={"kling-o3": RequestFormat(kling.prompt, kling.request)},
        settings_schema={"type": "object"},
    ))
    register_model(MODEL, {
        "backend": "counting", "default_for_backend": True, "endpoint": "test/counting", "compiler": "kling-o3",
        "durations": {"min": 1, "max": 15, "integer": True}, "aspect_ratios": ["16:9", "9:16", "1:1"],
        "max_concurrency": 4, "features": {"sound": True, "reference_video": True, "multi_prompt": True},
        "reference_images": {"max": 7, "max_with_video": 4},
        "pricing": {"rates": {"base": "0.10", "sound": "0.20", "video": "0.30"}, "source": "test", "confirmed": True},
    })


def submissions(state: Path) -> dict[str, Any]:
    return ProviderState(state).read()
