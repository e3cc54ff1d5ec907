"""The exception hierarchy every layer raises, and the located problem users read.

Users see these, so each carries where (file, line, column, path, shot) and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One located validation finding: ``FILE:LINE:COL: error: PATH: message``."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: str = "error"  # "error" | "warning"

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        path = f"{self.path}: " if self.path else ""
        return f"{where}: {self.severity}: {path}{self.message}"

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


class ReelmakeError(Exception):
    """Base of every error reelmake raises on purpose; the CLI prints these without a traceback."""


class StoryboardError(ReelmakeError):
    """A storyboard (or campaign) could not be used as written."""


@dataclass
class ValidationError(StoryboardError):
    """All problems found in one pass; raised when any of them is an error."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def __str__(self) -> str:
        return "\n".join(p.format() for p in self.problems)


class BackendError(ReelmakeError):
    """A backend could not render a job.

    ``retryable``: trying the same call again may succeed (rate limit, provider hiccup).
    ``ambiguous``: a paid task may exist although we got no id for it; never resubmit blindly.
    ``task_id``: the provider's id when one is known, so it can be resumed or reported.
    ``task_over``: the provider says the task ended without output (failed, cancelled, gone), so
    nothing is in flight or billed; without it, an error while waiting leaves the task to resume.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        ambiguous: bool = False,
        task_id: str | None = None,
        code: str | int | None = None,
        retry_after: float | None = None,
        task_over: bool = False,
    ) -> None:
        super().__init__(message)
        self.task_over = task_over
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.task_id = task_id
        self.code = code
        self.retry_after = retry_after


class BackendUnavailable(ReelmakeError):
    """A backend cannot run here at all (missing extra, missing API key, not implemented yet)."""


class BudgetExceeded(ReelmakeError):
    """A run would submit more than its cap allows."""


class MediaError(ReelmakeError):
    """ffmpeg/ffprobe failed or a media file is not what it should be."""
