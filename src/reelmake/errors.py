"""The exceptions reelmake raises on purpose, and the located problem users read.

One class per thing a caller handles differently; nothing is a bag of flags::

    ReelmakeError               anything reelmake raises on purpose; the CLI prints it without a traceback
     ├── StoryboardError        a storyboard, campaign, option or state file cannot be used as it is
     │    └── ValidationError   every problem found in one pass (``.problems``, each with file:line:column)
     ├── BudgetExceeded         a run would submit more than its cap, or nobody confirmed the spend
     ├── MediaError             ffmpeg or ffprobe failed, or a file is not the media it should be
     ├── BackendUnavailable     a backend cannot run here at all (missing extra, key or setting)
     ├── RemoteError            the project's shared remote clip store cannot be used
     │    ├── RemoteUnavailable cannot be reached (network, endpoint down): work goes on locally, paid shots wait
     │    └── RemoteRefused     it answered but refuses: wrong credentials, no such bucket
     └── BackendError           a backend could not render one job (``.task_id``, ``.code``)
          ├── SubmitRejected    the provider refused the submit: no task exists, nothing was charged
          │    └── RateLimited  … because of its rate limit: send again once the window allows
          ├── NotSent           the submit never reached the provider (connect error): sending again is free
          ├── SubmitAmbiguous   the submit may have created a paid task but gave no id: find it, never resend blindly
          ├── TaskFailed        the provider ended the task without output (refunded); ``.retryable``: a new
          │                     task may succeed
          ├── TaskLost          the provider no longer knows the task or its output (expired, another account)
          ├── Transient         contact lost while waiting or downloading: the task may still run; resume it later
          └── OutputRejected    the delivered clip is not what was ordered (length, aspect, not a video)

The orchestrator's money rules follow from the class alone: only ``NotSent`` and ``RateLimited`` are
sent again without a lookup; ``SubmitAmbiguous`` is reconciled; ``TaskFailed`` and ``TaskLost`` end a
task (it is no longer in flight); everything else after a submit keeps the task for the next run.
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
    """A storyboard, campaign, option or state file could not be used as it is."""


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


class BudgetExceeded(ReelmakeError):
    """A run would submit more than its cap allows, or the spend was not confirmed."""


class MediaError(ReelmakeError):
    """ffmpeg/ffprobe failed or a media file is not what it should be."""


class BackendUnavailable(ReelmakeError):
    """A backend cannot run here at all (missing extra, missing API key, bad setting)."""


class RemoteError(ReelmakeError):
    """The project's shared remote clip store (``reelmake.toml``'s ``remote``) cannot be used."""


class RemoteUnavailable(RemoteError):
    """The remote store cannot be reached (connection refused, DNS, timeout): the run goes on with the
    local store only, and paid shots wait, since nobody can claim them."""


class RemoteRefused(RemoteError):
    """The remote store answered but refuses this machine: wrong or missing credentials, no such bucket."""


class BackendError(ReelmakeError):
    """A backend could not render one job. ``task_id``: the provider's id when one is known."""

    def __init__(self, message: str, *, task_id: str | None = None, code: str | int | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.code = code


class SubmitRejected(BackendError):
    """The provider refused the submit with a reason: no task exists and nothing was charged.
    The same request would be refused again, so it is not sent again."""


class RateLimited(SubmitRejected):
    """The provider refused the submit because of its rate limit (HTTP 429): no task exists.
    ``retry_after``: seconds the provider asked us to wait, when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class NotSent(BackendError):
    """The submit provably never reached the provider (connection refused, DNS): sending again is free."""


class SubmitAmbiguous(BackendError):
    """The submit may have reached the provider and created a paid task, but no task id came back.
    Never sent again blindly: the task is looked up first (reconciliation)."""


class TaskFailed(BackendError):
    """The provider ended the task without output; failed tasks are refunded. ``retryable``: a new
    task with the same request may succeed (a provider-side error rather than a bad request)."""

    def __init__(self, message: str, *, retryable: bool = False, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retryable = retryable


class TaskLost(BackendError):
    """The provider no longer knows the task or its output (deleted after its retention period, or
    another account's key). The task is over; rendering the shot again pays again."""


class Transient(BackendError):
    """Contact was lost, or an answer could not be used, while waiting for or downloading a task that
    may still exist. The task stays in the journal and the next run resumes it."""


class OutputRejected(BackendError):
    """The provider delivered a clip that is not what was ordered (wrong length or aspect ratio, no
    video). The task stays in the journal; report it to the provider."""


# Errors after which a task no longer runs at the provider (nothing in flight, nothing billed).
TASK_OVER = (TaskFailed, TaskLost)
