"""One deliverable of one variant as a unit of work: what :meth:`Project.cut` hands to the editor,
here or on an executor's worker.

A task carries everything the cut needs as plain, picklable data: the editor's spec (clips and
soundtrack by absolute path and content hash), the output path and the editor's work dir (the
workspace's ``edit/``, whose content-keyed pieces every cut shares). It writes only its own
deliverable and those shared pieces, never the lock, the journal or the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ReelmakeError


@dataclass(frozen=True)
class CutTask:
    variant: str  # "" for a storyboard
    spec: Any  # reelmake.edit.CutSpec
    target: Path  # the deliverable's mp4
    work_dir: Path  # the workspace's edit/ folder
    draft: bool = False
    partial: bool = False

    @property
    def name(self) -> str:
        return self.spec.deliverable.name


@dataclass(frozen=True)
class CutResult:
    variant: str
    name: str
    report: Any = None  # reelmake.edit.CutReport when it was cut
    error: str | None = None  # why this deliverable failed (the others go on)


def cut_one(task: CutTask) -> CutResult:
    """Cut ``task``: its report, or the reason it failed (a missing clip, a bad edit, a full disk)."""
    from ..edit import cut as edit_cut

    try:
        report = edit_cut(task.spec, task.target, work_dir=task.work_dir, draft=task.draft, partial=task.partial)
    except ReelmakeError as exc:
        return CutResult(task.variant, task.name, error=str(exc))
    except OSError as exc:  # out/<stem> is a file, a full disk: nothing half-written stays
        where = f" {exc.filename}" if exc.filename else ""
        return CutResult(task.variant, task.name, error=f"cannot write{where}: {exc.strerror or exc}")
    return CutResult(task.variant, task.name, report=report)


__all__ = ["CutResult", "CutTask", "cut_one"]
