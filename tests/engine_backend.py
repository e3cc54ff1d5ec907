"""A test-only remote backend that counts submissions across processes.

It behaves like a paid provider: `submit` creates a task (recorded in a JSON state file under a
file lock, so a SIGKILLed process and its successor see the same provider), tasks complete after
a latency, and `reconcile` searches the task history. Faults are injected per shot id through
settings. It also sells an image model (``counting-image``, one PNG per task); with ``distinct: true``
every render key gets a clip of its own colour (so a re-rendered shot's frames differ, as a real
model's would). Registered from tests (and from `python -m tests.engine_cli` for subprocess tests).
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
from reelmake.backends.wavespeed import images
from reelmake.catalog import register_model
from reelmake.errors import NotSent, SubmitAmbiguous, TaskFailed, TaskLost, Transient
from reelmake.jobs import Ambiguity, Reconciliation, RenderJob, TaskOutput
from reelmake.plugins import BackendPlugin, RequestFormat, register

MODEL = "counting-v1"
IMAGE_MODEL = "counting-image"


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


def _clip(directory: Path, duration: float, aspect: str, colour: str | None = None) -> Path:
    """One tiny real clip per (duration, aspect[, colour]), made once and copied: fast and still real media."""
    size = {"16:9": "64x36", "9:16": "36x64", "1:1": "48x48"}[aspect]
    source = f"color=c={colour}:s={size}:r=24:d={duration}" if colour else f"testsrc2=s={size}:r=24:d={duration}"
    path = directory / f"clip-{duration:g}-{aspect.replace(':', 'x')}{'-' + colour if colour else ''}.mp4"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source,
                        "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(tmp)], check=True)
        tmp.replace(path)
    return path


def _image(directory: Path, job: RenderJob) -> Path:
    """A small PNG in a colour of the job's own: every image render a different picture."""
    path = directory / f"image-{job.key[:12]}.png"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.png")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=0x{job.key[:6]}:s=64x64",
                        "-frames:v", "1", str(tmp)], check=True)
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
        if job.kind == "image":
            source = await asyncio.to_thread(_image, self.media, job)
        else:
            colour = f"0x{job.key[:6]}" if self.settings.get("distinct") else None
            source = await asyncio.to_thread(_clip, self.media, job.duration, job.aspect_ratio, colour)
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
    """Register the backend, a paid video model for it (0.10 USD per second, sound 0.20) and a paid image
    model (0.05 USD per image)."""
    register(BackendPlugin(
        name="counting", remote=True, factory=CountingBackend,
        compilers={"kling-o3": RequestFormat(kling.prompt, kling.request),
                   "wavespeed-image": RequestFormat(images.prompt, images.request)},
        settings_schema={"type": "object"},
    ))
    register_model(MODEL, {
        "backend": "counting", "default_for_backend": True, "endpoint": "test/counting", "compiler": "kling-o3",
        "durations": {"min": 1, "max": 15, "integer": True}, "aspect_ratios": ["16:9", "9:16", "1:1"],
        "max_concurrency": 4, "features": {"sound": True, "reference_video": True, "multi_prompt": True},
        "reference_images": {"max": 7, "max_with_video": 4},
        "pricing": {"rates": {"base": "0.10", "sound": "0.20", "video": "0.30"}, "source": "test", "confirmed": True},
    })
    register_model(IMAGE_MODEL, {
        "kind": "image", "backend": "counting", "default_for_backend": True, "endpoint": "test/counting-image",
        "edit_endpoint": "test/counting-image/edit", "compiler": "wavespeed-image", "image_size": {"fixed": True},
        "max_concurrency": 4, "reference_images": {"max": 10},
        "pricing": {"rates": {"image": "0.05"}, "source": "test", "confirmed": True},
    })


def submissions(state: Path) -> dict[str, Any]:
    return ProviderState(state).read()
