"""What a render run is asked (:class:`RenderOptions`), what each render key ends as (:class:`Outcome`)
and what the run returns (:class:`RunResult`); the orchestrator's vocabulary, apart from its machinery."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# on_event(job_id, state, detail): state is queued | submitted | running | downloading | done | cached |
# failed | skipped | ambiguous | blocked
EventCallback = Callable[[str, str, str], None]


@dataclass(frozen=True)
class RenderOptions:
    jobs: int | None = None  # concurrency for every backend (overrides storyboard and catalog)
    max_cost: Decimal | None = None  # hard cap on what this run submits
    resubmit: frozenset[str] = frozenset()  # job ids (or keys) whose ambiguous submit may be sent again
    adopt: Mapping[str, str] = field(default_factory=dict)  # job id (or key) → provider task id to adopt
    timeout: float | None = None  # per-shot seconds; default from backend settings, else 30 min remote
    attempts: int = 3  # tries for retryable failures (connect errors, refunded failed tasks, downloads)
    backoff: float = 1.0  # first retry delay in seconds; doubles with jitter


@dataclass
class Outcome:
    """How one render key ended in this run, for every job that shares it."""

    key: str
    job_ids: list[str]
    status: str  # rendered | cached | failed | skipped | ambiguous | blocked (an upstream job did not render)
    error: str | None = None
    spent: Decimal = Decimal(0)
    task_id: str | None = None
    sha256: str | None = None


@dataclass
class RunResult:
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False
    needed: dict[str, list[str]] = field(default_factory=dict)  # --only: upstream job id → the ids needing it

    def ids(self, status: str) -> list[str]:
        return [i for o in self.outcomes if o.status == status for i in o.job_ids]

    def failures(self) -> list[dict[str, Any]]:
        """Every render that did not finish, per job id: what the JSON summaries list as "failed"."""
        return [{"id": i, "error": o.error, "status": o.status} for o in self.outcomes
                if o.status not in ("rendered", "cached") for i in o.job_ids]

    @property
    def spent(self) -> Decimal:
        return sum((o.spent for o in self.outcomes), Decimal(0))

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(o.status in ("rendered", "cached") for o in self.outcomes)


class JobFinished(Exception):
    """Ends a job early with its outcome (a refusal, a budget stop, an ambiguous submit)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


def retry_delay(options: RenderOptions, attempt: int, hint: float | None = None) -> float:
    if hint is not None:
        return hint
    return min(60.0, options.backoff * 2**attempt) * random.uniform(0.5, 1.5)
