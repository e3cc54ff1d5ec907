"""The Ray executor: this process is Ray's driver; local renders and cuts run on the cluster.

``--executor ray`` connects with ``ray.init``: ``--address auto`` to the cluster running on this
machine, ``ray://HOST:PORT`` through Ray Client, ``HOST:PORT`` to a head node's GCS; no address does
what ``ray.init()`` does (``RAY_ADDRESS``, else a new local instance, disconnected and stopped after
the command). A process that already called ``ray.init`` (a notebook, a test) keeps its connection.

Every node needs the same reelmake installed with the ``ray`` extra (and ``local`` for the Wan
model). The driver keeps the state and the money (see :mod:`reelmake.engine.executors`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import ray

from ...errors import BackendUnavailable
from ..cutting import CutResult, CutTask
from .ray_render import NodeFacts, RayLocalBackend, one_line
from .ray_workers import cut_on_worker

log = logging.getLogger("reelmake.executors.ray")

CUT_RETRIES = 2  # a cut whose worker died runs again (it is idempotent: content-keyed pieces, atomic writes)


# The hosted backends' credentials (each backend's ``key_envs``), kept from the workers.
HOST_KEYS = ("WAVESPEED_API_KEY", "FAL_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY")

class RayExecutor:
    def __init__(self, *, owned: bool, jobs: int | None, on_note: Callable[[str], None]) -> None:
        self.owned = owned  # this executor called ray.init, so it disconnects at close
        self.jobs = jobs
        self.on_note = on_note
        self.backends: list[RayLocalBackend] = []  # what this executor stood in for, newest last

    @classmethod
    def connect(cls, address: str | None, *, jobs: int | None = None,
                on_note: Callable[[str], None] = log.info) -> RayExecutor:
        if ray.is_initialized():
            return cls(owned=False, jobs=jobs, on_note=on_note)
        if address and _on_loopback(address):
            _stay_on_loopback()
        # Ray reports usage statistics to its authors unless told not to; reelmake does not opt its
        # users in. Setting the variable yourself (to 1) wins.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING,
                                  "log_to_driver": log.isEnabledFor(logging.INFO),
                                  # Workers run model code and never call a paid API: a Ray instance started
                                  # here would hand them this process's environment, keys included.
                                  "runtime_env": {"env_vars": {name: "" for name in HOST_KEYS if name in os.environ}}}
        if address:
            kwargs["address"] = address
        else:
            kwargs["include_dashboard"] = False
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
            where = f"the Ray cluster at {address}" if address else "a Ray cluster"
            hint = ""
            if address and os.environ.get("RAY_AUTH_MODE") is None:
                hint = (" (a cluster with token authentication, Ray's default, needs RAY_AUTH_MODE=token and its "
                        "token in RAY_AUTH_TOKEN or ~/.ray/auth_token)")
            raise BackendUnavailable(f"cannot connect to {where}: {one_line(exc)}{hint}") from None
        executor = cls(owned=True, jobs=jobs, on_note=on_note)
        nodes = executor.nodes()
        on_note(f"Ray: connected to {len(nodes)} node(s), {sum(int(n.cpus) for n in nodes)} CPU(s), "
                f"{sum(int(n.gpus) for n in nodes)} GPU(s)")
        return executor

    def nodes(self) -> list[NodeFacts]:
        """The cluster's live nodes, now (nodes join and leave between runs)."""
        return [NodeFacts(n["NodeID"], n.get("NodeManagerAddress", "?"), float(n["Resources"].get("CPU", 0)),
                          float(n["Resources"].get("GPU", 0)))
                for n in ray.nodes() if n.get("Alive")]

    def local_backend(self, name: str, settings: Mapping[str, Any]) -> RayLocalBackend:
        backend = RayLocalBackend(name, dict(settings), self.nodes, cap=self.jobs, on_note=self.on_note)
        self.backends.append(backend)
        return backend

    def cut(self, tasks: list[CutTask]) -> list[CutResult]:
        """Each deliverable a Ray task of one CPU; results in the tasks' order. A task whose worker
        dies is run again; a deliverable that cannot be cut fails alone."""
        if not tasks:
            return []
        remote = ray.remote(num_cpus=1, max_retries=CUT_RETRIES)(cut_on_worker)
        refs = [remote.remote(task) for task in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[CutResult | None] = [None] * len(tasks)
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    task = tasks[index[ref]]
                    try:
                        results[index[ref]] = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        results[index[ref]] = CutResult(task.variant, task.name,
                                                        error=f"cut on Ray failed: {one_line(exc)}")
        except BaseException:  # Ctrl-C: stop the cuts still running (their outputs are written atomically)
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return [r for r in results if r is not None]

    def close(self) -> None:
        if self.owned and ray.is_initialized():
            ray.shutdown()


def _on_loopback(address: str) -> bool:
    host = address.removeprefix("ray://").rpartition(":")[0].strip("[]") or address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _stay_on_loopback() -> None:
    """Keep this driver on the loopback interface, for a head started with ``--node-ip-address
    127.0.0.1``. Ray swaps a loopback address for the machine's network address
    (``services.resolve_ip_for_localhost``) unless the cluster is known to be this machine alone;
    the head listens on loopback only, so that address would not answer (and traffic meant for this
    machine would leave loopback). Ray's switch for "a one-machine cluster" is this variable (read
    at import, hence the constant too)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


__all__ = ["RayExecutor"]
