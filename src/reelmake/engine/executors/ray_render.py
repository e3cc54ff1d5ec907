"""The driver's side of local renders on Ray: a pool of shot actors standing in for a local backend.

:class:`RayLocalBackend` looks to the orchestrator like any LocalBackend (``preflight``, ``run``,
``aclose``), so the orchestrator keeps doing what it does for local shots (the key's lock, the clip
store, the lock file, events) while the rendering happens on the cluster:

- ``preflight`` decides how many actors (:func:`placement`), starts them, ships the reference files
  to the object store once, and runs the backend's own checks on every actor's node;
- ``run`` gives the shot to a free actor, relays its progress, and writes the clip it sends back to
  the orchestrator's temp path after checking its hash;
- a worker that dies (killed, out of host memory, its node lost) is restarted by Ray and the shot is
  retried on it (``max_restarts``/``max_task_retries``); a shot the backend fails (out of GPU memory,
  a bad request) fails alone and is not retried.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ...errors import BackendError, BackendUnavailable
from ...fsutil import atomic_write_bytes, sha256_file
from ...jobs import RenderJob, StatusCallback
from ...plugins import get_plugin
from .ray_workers import Failed, Rendered, ShotWorker

MAX_RESTARTS = 3  # a worker that keeps dying (a node lost again and again) is given up after this
MAX_TASK_RETRIES = 2  # a shot whose worker died is tried this many more times, on the restarted worker
START_TIMEOUT = 600.0  # seconds for the actors to start and check their node (loading nothing yet)
PROGRESS_EVERY = 2.0  # seconds between progress questions to a busy actor


@dataclass(frozen=True)
class NodeFacts:
    node_id: str
    address: str
    cpus: float
    gpus: float


@dataclass(frozen=True)
class Placement:
    """How many actors a backend gets, with what, and why (said to the user)."""

    count: int
    gpu: bool  # one GPU each
    nodes: tuple[str, ...] = ()  # one actor on each of these nodes (CPU copies of a GPU model)
    reason: str = ""


def wants_gpu(settings: Mapping[str, Any]) -> bool:
    """Whether the storyboard leaves the device to the machine (or asks for a GPU), rather than ``cpu``."""
    devices = [str(d) for d in settings.get("devices") or [settings.get("device") or "auto"]]
    return not all(d in ("cpu", "mps") for d in devices)


def placement(name: str, gpu_backend: bool, settings: Mapping[str, Any], nodes: list[NodeFacts], shots: int,
              cap: int | None) -> Placement:
    """One actor per GPU for a GPU backend; one per node when the cluster has no GPU (or the storyboard
    says ``device: cpu``); one per CPU for a CPU backend (each renders one shot at a time). Never more
    than the distinct shots to render or ``cap`` (``--jobs``)."""
    gpus = sum(int(n.gpus) for n in nodes)
    cpus = sum(int(n.cpus) for n in nodes)
    where = f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}"
    if gpu_backend and gpus and wants_gpu(settings):
        count, gpu, on_nodes = gpus, True, ()
        reason = f"one per GPU ({gpus} GPU(s) on {where})"
    elif gpu_backend:
        count, gpu, on_nodes = len(nodes), False, tuple(n.node_id for n in nodes)
        why = "the storyboard says device: cpu" if gpus else "the cluster has no GPU"
        reason = (f"{why}: one CPU worker per node ({where}); each holds a whole copy of the model in memory "
                  "and one shot already uses all of its node's cores")
    else:
        count, gpu, on_nodes = max(1, cpus), False, ()
        reason = f"one per CPU ({cpus} CPU(s) on {where}); each renders one shot at a time"
    limit = min(shots, cap or shots)
    if count > limit:
        reason += f", {limit} of them for {shots} shot(s)" if limit == shots else f", capped at {limit} by --jobs"
        count = limit
    count = max(1, count)
    return Placement(count, gpu, on_nodes[:count], f"Ray: {count} worker(s) for {name}: {reason}")


def actor_settings(settings: Mapping[str, Any], gpu_backend: bool, place: Placement) -> dict[str, Any]:
    """The backend's settings on an actor: a GPU actor sees only the GPU Ray gave it (as ``cuda``);
    the machine-specific ``devices`` list means nothing on a cluster."""
    out = dict(settings)
    if gpu_backend:
        out.pop("devices", None)
        out["device"] = "cuda" if place.gpu else "cpu"
    return out


@dataclass
class _Worker:
    handle: Any
    label: str = ""
    pid: int | None = None
    node: str = ""


@dataclass
class RayLocalBackend:
    """A local backend's shots on a pool of Ray actors (see the module's docstring)."""

    name: str
    settings: Mapping[str, Any]
    nodes: Callable[[], list[NodeFacts]]
    cap: int | None = None
    on_note: Callable[[str], None] = print
    remote: bool = False
    workers: list[_Worker] = field(default_factory=list)
    blobs: dict[str, Any] = field(default_factory=dict)
    loads: dict[str, int] = field(default_factory=dict)  # worker → models it had loaded after its last shot
    _idle: asyncio.Queue | None = None
    _alive: int = 0

    @property
    def slots(self) -> int:
        return len(self.workers)

    def preflight(self, jobs: list[RenderJob]) -> None:
        plugin = get_plugin(self.name)
        shots = len({job.key for job in jobs})
        place = placement(self.name, plugin.gpu, self.settings, self.nodes(), shots, self.cap)
        self.on_note(place.reason)
        settings = actor_settings(self.settings, plugin.gpu, place)
        actor = ray.remote(ShotWorker)
        options: dict[str, Any] = {"num_cpus": 1, "num_gpus": 1 if place.gpu else 0, "max_restarts": MAX_RESTARTS,
                                   "max_task_retries": MAX_TASK_RETRIES, "max_concurrency": 2}  # 2: render + progress
        for index in range(place.count):
            if place.nodes:  # soft: a worker whose node is lost restarts on another
                options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(place.nodes[index], soft=True)
            self.workers.append(_Worker(actor.options(**options).remote(self.name, settings)))
        for job in jobs:
            for sha, file in job.files.items():
                self._blob(sha, file)
        every_job = ray.put(jobs)
        try:
            answers = ray.get([w.handle.preflight.remote(every_job) for w in self.workers], timeout=START_TIMEOUT)
            places = ray.get([w.handle.where.remote() for w in self.workers], timeout=START_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            raise BackendUnavailable(f"the Ray workers for {self.name} did not start within {START_TIMEOUT:g} s; is "
                                     "the cluster busy, or short of the CPUs/GPUs it reports?") from None
        except ray.exceptions.RayError as exc:
            raise BackendUnavailable(f"the Ray workers for {self.name} could not start: {one_line(exc)}") from None
        for worker, answer, found in zip(self.workers, answers, places, strict=True):
            if answer is not None:
                raise BackendUnavailable(f"on Ray node {found['node']}: {answer}")
            worker.pid, worker.node = found["pid"], found["node"]
            gpus = f", GPU {','.join(found['gpus'])}" if found["gpus"] else ""
            worker.label = f"{found['node']} pid {found['pid']}{gpus}"
        self._idle = asyncio.Queue()
        for worker in self.workers:
            self._idle.put_nowait(worker)
        self._alive = len(self.workers)

    def _blob(self, sha: str, file: Any) -> Any:
        """The object-store reference of a reference file's bytes, put there once per run."""
        if sha not in self.blobs:
            self.blobs[sha] = ray.put(Path(file.path).read_bytes())
        return self.blobs[sha]

    async def run(self, job: RenderJob, dest: Path, on_status: StatusCallback) -> None:
        assert self._idle is not None, "preflight first"
        worker = await self._take(job)
        alive = True
        try:
            on_status("running", f"on Ray worker {worker.label}")
            # A job compiled from an upstream output (a continued shot's frame) was never preflighted:
            # its new files go to the object store here.
            ref = worker.handle.render.remote(job, {sha: self._blob(sha, file) for sha, file in job.files.items()})
            result = await self._wait(ref, worker, on_status)
        except ray.exceptions.RayActorError as exc:
            alive = await self._still_alive(worker)
            raise BackendError(f"shot {job.shot_id}: its Ray worker ({worker.label}) died, and the "
                               f"{MAX_TASK_RETRIES} retries too: {one_line(exc)}") from None
        except ray.exceptions.OutOfMemoryError as exc:
            raise BackendError(f"shot {job.shot_id}: Ray stopped its worker ({worker.label}) for lack of memory on "
                               f"the node: {one_line(exc)}", code="out_of_memory") from None
        except ray.exceptions.RayError as exc:
            raise BackendError(f"shot {job.shot_id}: Ray could not render it: {one_line(exc)}") from None
        finally:
            self._give_back(worker, alive)
        if isinstance(result, Failed):
            raise BackendError(result.error, code=result.code)
        self.loads[worker.label] = result.loads
        if result.restarted:
            on_status("running", "retried on a restarted Ray worker: the one rendering it died")
        await asyncio.to_thread(_receive, job, result, dest)

    async def _take(self, job: RenderJob) -> _Worker:
        assert self._idle is not None
        worker = await self._idle.get()
        if worker is None:  # every actor is gone for good: say so instead of waiting forever
            self._idle.put_nowait(None)
            raise BackendError(f"shot {job.shot_id}: every Ray worker for {self.name} died and Ray gave up "
                               f"restarting them (after {MAX_RESTARTS} restarts each)")
        return worker

    def _give_back(self, worker: _Worker, alive: bool) -> None:
        assert self._idle is not None
        if alive:
            self._idle.put_nowait(worker)
            return
        self._alive -= 1
        if self._alive == 0:
            self._idle.put_nowait(None)

    async def _wait(self, ref: Any, worker: _Worker, on_status: StatusCallback) -> Rendered | Failed:
        done = asyncio.wrap_future(ref.future())
        try:
            while True:
                finished, _ = await asyncio.wait({done}, timeout=PROGRESS_EVERY)
                if finished:
                    return done.result()
                try:  # a busy actor answers from its second thread; a restarting one is skipped
                    state, detail = await asyncio.wait_for(
                        asyncio.wrap_future(worker.handle.progress.options(max_task_retries=0).remote().future()),
                        PROGRESS_EVERY)
                except (TimeoutError, ray.exceptions.RayError):
                    continue
                if detail:
                    on_status(state, detail)
        except asyncio.CancelledError:  # a timeout or Ctrl-C: the actor stops the shot and stays ready
            ray.cancel(ref)
            raise

    async def _still_alive(self, worker: _Worker) -> bool:
        try:
            await asyncio.wait_for(asyncio.wrap_future(worker.handle.where.remote().future()), 30)
        except (TimeoutError, ray.exceptions.RayError):
            return False
        return True

    async def aclose(self) -> None:
        for worker in self.workers:  # frees the GPUs (and the loaded models) for the next run
            ray.kill(worker.handle, no_restart=True)
        self.workers.clear()
        self.blobs.clear()


def _receive(job: RenderJob, result: Rendered, dest: Path) -> None:
    """Put the clip where the orchestrator stores it from, checked against the hash the worker sent."""
    if result.data is None:
        raise BackendError(f"shot {job.shot_id}: the Ray worker sent no clip (no shared cache is configured)")
    atomic_write_bytes(dest, result.data)
    if sha256_file(dest) != result.sha256:
        raise BackendError(f"shot {job.shot_id}: the clip arrived damaged from its Ray worker (hash mismatch)")


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line: Ray's messages run to a traceback. An actor whose constructor
    raised ends its message with that exception (``BackendUnavailable: …``); others start with it."""
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[-1] if getattr(exc, "actor_init_failed", False) else lines[0]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


__all__ = ["NodeFacts", "Placement", "RayLocalBackend", "actor_settings", "one_line", "placement", "wants_gpu"]
