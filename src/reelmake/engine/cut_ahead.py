"""Cut behind the renders: each clip's pieces are made as soon as it lands, while other shots render.

The orchestrator reports each landed clip on the event loop; the pieces are encoded on one
background thread (ffmpeg itself is multi-threaded, and the renders it runs beside are mostly
waiting on the network or on another process). Landings that arrive while a variant is being
prepared are coalesced into one more pass over that variant. Everything made lands in the editor's
content-keyed cache, so the cut that follows the render finds it; nothing here writes a deliverable,
and a failure here only means the cut does the work itself (it reports the error properly).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from ..core.model import Variant
from ..core.takes import Approval
from ..edit import prepare
from ..errors import ReelmakeError
from ..jobs import RenderJob
from .assemble import cut_specs
from .workspace import Workspace

log = logging.getLogger("reelmake.edit")


class CutAhead:
    """Prepares the deliverables of a variant each time one of its clips lands; ``close`` waits."""

    def __init__(self, workspace: Workspace, variants: list[Variant], jobs: Mapping[str, list[RenderJob]],
                 approvals: Mapping[tuple[str, str], Approval | None]) -> None:
        self._workspace = workspace
        self._variants = {v.id: v for v in variants}
        self._jobs = jobs
        self._approvals = approvals
        self._users: dict[str, set[str]] = {}  # render key → the variants whose cuts use it
        for variant_id, variant_jobs in jobs.items():
            for job in variant_jobs:
                self._users.setdefault(job.key, set()).add(variant_id)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="reelmake-cut-ahead")
        self._lock = threading.Lock()
        self._queued: set[str] = set()  # variants with a pass queued that has not started yet

    def landed(self, job: RenderJob) -> None:
        """``job``'s clip is in the store: queue a pass over each variant using it (unless one is queued)."""
        for variant in sorted(self._users.get(job.key, ())):
            with self._lock:
                if variant in self._queued or variant not in self._variants:
                    continue
                self._queued.add(variant)
            self._pool.submit(self._prepare, variant)

    def _prepare(self, variant_id: str) -> None:
        with self._lock:
            self._queued.discard(variant_id)
        variant = self._variants[variant_id]
        shots = {shot: found for (vid, shot), found in self._approvals.items() if vid == variant_id}
        try:
            for spec in cut_specs(variant.storyboard, self._jobs[variant_id], self._workspace, {}, approvals=shots):
                made = prepare(spec, work_dir=self._workspace.edit_dir)
                if made:
                    log.info("%s: pieces of %s made ahead of the cut", spec.deliverable.name, ", ".join(made))
        except (ReelmakeError, OSError) as exc:  # the cut meets it again and reports it
            log.debug("cutting ahead stopped: %s", exc)

    def close(self, *, wait: bool = True) -> None:
        """Wait for the queued passes (``wait``), or drop those not started (an interrupted render)."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
