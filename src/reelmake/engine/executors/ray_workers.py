"""What runs on a Ray worker: the shot actor of a local backend, and the cut task.

Neither writes any of the driver's state (journal, lock file, budget, approvals) and neither can
submit to a paid API: the actor refuses to build a backend whose plugin says ``remote``. A shot's
clip is rendered into the actor's own scratch folder and handed back as bytes with its hash; the
driver stores it. Reference files arrive through Ray's object store by content hash, so shots render
on nodes that do not share the project's filesystem.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray

from ...errors import BackendError, BackendUnavailable, ReelmakeError
from ...fsutil import atomic_write_bytes, sha256_file
from ...jobs import RenderJob
from ...plugins import get_plugin
from ..cutting import CutResult, CutTask, cut_one

# This user's folder on a node (private: another user could otherwise plant files in it), and the
# reference files by content hash, shared by every actor on the node: each arrives once per node.
BASE = Path(tempfile.gettempdir()) / f"reelmake-ray-{os.getuid()}"
INPUTS = BASE / "inputs"
_CANCEL_POLL = 0.5  # seconds between looks at Ray's cancellation flag while a shot renders


@dataclass(frozen=True)
class Rendered:
    """A finished clip, as it travels back to the driver.

    The seam for a shared clip cache: today the bytes ride in Ray's object store and the driver puts
    them in its clip store. With a remote cache configured, the worker could upload the clip there
    by its hash and send back ``data=None``; the driver would then take it from the cache, checking
    the same ``sha256``."""

    sha256: str
    data: bytes | None
    restarted: bool  # rendered by an actor Ray restarted (its predecessor died): a retried shot
    loads: int  # models this actor has loaded so far (1 for its whole life when the pipeline is reused)


@dataclass(frozen=True)
class Failed:
    """The backend refused or failed the shot (bad request, out of GPU memory, cancelled): an answer
    about the shot, so Ray does not retry it (retries are for workers that died)."""

    error: str
    code: str | int | None = None


class ShotWorker:
    """One Ray actor: a local backend built once and reused for every shot it renders (for Wan, the
    pipeline stays loaded in this process), one shot at a time."""

    def __init__(self, backend: str, settings: dict[str, Any]) -> None:
        plugin = get_plugin(backend)
        if plugin.remote:  # the driver keeps the money: a paid API is only ever called from there
            raise BackendUnavailable(f"backend {backend!r} submits to a paid API; Ray workers render local "
                                     "backends only")
        BASE.mkdir(mode=0o700, parents=True, exist_ok=True)
        if BASE.stat().st_uid != os.getuid():
            raise BackendUnavailable(f"{BASE} belongs to another user; reelmake will not use it")
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=BASE))
        self.backend = plugin.factory(dict(settings), self.scratch / "backend")
        # The backend's coroutines run on a loop of their own: Ray's threads for actor methods may
        # already run one, and one loop for the actor's life keeps what the backend binds to it.
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="reelmake-backend-loop", daemon=True).start()
        self.status: tuple[str, str] = ("queued", "")
        self.loads = 0
        self.restarted = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        self.one_at_a_time = threading.Lock()

    def where(self) -> dict[str, Any]:
        """Which node, process and GPUs this actor has, for messages and tests."""
        return {"node": ray.util.get_node_ip_address(), "pid": os.getpid(),
                "gpus": [str(g) for g in ray.get_gpu_ids()], "restarted": self.restarted}

    def preflight(self, jobs: list[RenderJob]) -> str | None:
        """The backend's own checks on this node (its extra, its model, its device): None when fine."""
        try:
            self.backend.preflight(jobs)
        except ReelmakeError as exc:
            return str(exc)
        return None

    def progress(self) -> tuple[str, str]:
        return self.status

    def render(self, job: RenderJob, blobs: dict[str, Any]) -> Rendered | Failed:
        with self.one_at_a_time:
            dest = self.scratch / f"{job.key}.mp4"
            self.status = ("running", "")
            try:
                self._run(_localised(job, blobs), dest)
                data = dest.read_bytes()
                return Rendered(hashlib.sha256(data).hexdigest(), data, self.restarted, self.loads)
            except (asyncio.CancelledError, concurrent.futures.CancelledError):
                return Failed("cancelled", code="cancelled")
            except ReelmakeError as exc:
                return Failed(str(exc), getattr(exc, "code", None))
            except Exception as exc:  # a bug or a broken node: this shot fails with the reason, not the actor
                return Failed(f"shot {job.shot_id}: the Ray worker failed: {type(exc).__name__}: {exc}")
            finally:
                dest.unlink(missing_ok=True)
                self.status = ("queued", "")

    def _run(self, job: RenderJob, dest: Path) -> None:
        running = asyncio.run_coroutine_threadsafe(self.backend.run(job, dest, self._on_status), self.loop)
        context = ray.get_runtime_context()  # read in this thread: the flag belongs to this method's task
        while True:
            try:
                return running.result(timeout=_CANCEL_POLL)
            except TimeoutError:
                # ray.cancel cannot interrupt a threaded actor's method; it raises this flag instead, and the
                # backend stops the shot the way it stops on Ctrl-C (Wan: at its next denoising step).
                if context.is_canceled():
                    running.cancel()

    def _on_status(self, state: str, detail: str) -> None:
        if detail.startswith("loading"):  # how a backend says it loads its model ("loading model on cuda")
            self.loads += 1
        self.status = (state, detail)


def _localised(job: RenderJob, blobs: dict[str, Any]) -> RenderJob:
    """``job`` with its reference files in this node's input cache (fetched from the object store
    once per node, checked against their hash): the driver's paths may not exist here."""
    files = {}
    for sha, file in job.files.items():
        path = INPUTS / f"{sha}{file.path.suffix}"
        if not path.is_file() or sha256_file(path) != sha:  # checked each time: nothing on disk is trusted
            data = ray.get(blobs[sha])
            if hashlib.sha256(data).hexdigest() != sha:
                raise BackendError(f"shot {job.shot_id}: reference {file.name!r} arrived damaged (hash mismatch)")
            atomic_write_bytes(path, data)
        files[sha] = replace(file, path=path)
    return replace(job, files=files)


def cut_on_worker(task: CutTask) -> CutResult:
    """Cut one deliverable on a Ray worker. The clips, the soundtrack and the editor's shared pieces
    are read (and the deliverable written) at the driver's paths: the project and its workspace must
    be on a filesystem every node mounts at the same place."""
    workspace = Path(task.work_dir).parent
    if not workspace.is_dir():
        return CutResult(task.variant, task.name, error=(
            f"the workspace {workspace} is not visible on Ray node {ray.util.get_node_ip_address()}: cutting on "
            "Ray needs the project and its workspace on a filesystem every node mounts at the same path"))
    return cut_one(task)


__all__ = ["INPUTS", "Failed", "Rendered", "ShotWorker", "cut_on_worker"]
