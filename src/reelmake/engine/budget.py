"""Budgets: what a run may submit, held across every run of one storyboard in one workspace.

Two caps apply to a run: its own (``--max-cost``) and the storyboard's or campaign's ``budget``,
which every run of that file shares while they run at the same time: two terminals rendering a
storyboard with ``budget: 10`` submit at most $10 together. A paid job reserves its price before it
is submitted, commits it once the provider has the task, and releases it when the task failed (the
provider refunds it). The shared part lives in one JSON file per storyboard under a file lock; runs
whose process is gone stop counting.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from filelock import FileLock

from ..fsutil import atomic_write_text

_STALE = 24 * 3600.0  # a run on another machine that has not written for this long is over


def _alive(run: dict[str, Any], now: float) -> bool:
    if run.get("host") != socket.gethostname():
        return now - float(run.get("updated", 0)) < _STALE
    try:
        os.kill(int(run.get("pid", 0)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


def _money(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() else Decimal(0)


class Budget:
    """Reservations against this run's cap and the shared cap of its storyboard (either may be None)."""

    def __init__(self, run_cap: Decimal | None, shared_cap: Decimal | None = None, path: Path | None = None) -> None:
        self.run_cap, self.shared_cap = run_cap, shared_cap
        self.path = path if shared_cap is not None else None
        self.committed, self.reserved = Decimal(0), Decimal(0)
        self.run_id = uuid.uuid4().hex
        self._lock = FileLock(str(path) + ".lock") if self.path else None

    @property
    def cap(self) -> Decimal | None:
        """The tighter of the two caps (for messages)."""
        caps = [c for c in (self.run_cap, self.shared_cap) if c is not None]
        return min(caps) if caps else None

    def _others(self, runs: dict[str, Any]) -> Decimal:
        return sum((_money(r.get("reserved")) + _money(r.get("committed")) for rid, r in runs.items()
                    if rid != self.run_id), Decimal(0))

    def _shared(self, change) -> Any:
        """Apply ``change(others' spend) -> result`` with the shared file locked, then record this run."""
        if self.path is None or self._lock is None:
            return change(Decimal(0))
        with self._lock:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                runs = data.get("runs", {}) if isinstance(data, dict) else {}
                runs = {k: v for k, v in runs.items() if isinstance(v, dict)}
            except (OSError, ValueError):
                runs = {}
            now = time.time()
            runs = {rid: run for rid, run in runs.items() if rid == self.run_id or _alive(run, now)}
            result = change(self._others(runs))
            runs[self.run_id] = {"pid": os.getpid(), "host": socket.gethostname(), "updated": now,
                                 "reserved": str(self.reserved), "committed": str(self.committed)}
            if self.reserved == 0 and self.committed == 0:
                runs.pop(self.run_id)
            atomic_write_text(self.path, json.dumps({"runs": runs}, indent=1) + "\n")
            return result

    def reserve(self, cost: Decimal) -> bool:
        """Hold ``cost`` for a submit; False when either cap would be exceeded (nothing is held)."""
        def change(others: Decimal) -> bool:
            mine = self.committed + self.reserved + cost
            if self.run_cap is not None and mine > self.run_cap:
                return False
            if self.shared_cap is not None and others + mine > self.shared_cap:
                return False
            self.reserved += cost
            return True

        return self._shared(change)

    def commit(self, cost: Decimal) -> None:
        """The provider has the task: the reservation is now money spent."""
        def change(_: Decimal) -> None:
            self.reserved -= cost
            self.committed += cost

        self._shared(change)

    def release(self, cost: Decimal, *, committed: bool) -> None:
        """The submit was refused (reserved) or the task failed and is refunded (committed)."""
        def change(_: Decimal) -> None:
            if committed:
                self.committed -= cost
            else:
                self.reserved -= cost

        self._shared(change)

    def close(self) -> None:
        """This run is over: it no longer holds anything against the shared cap."""
        def change(_: Decimal) -> None:
            self.reserved = self.committed = Decimal(0)

        if self.path is not None and self.path.exists():
            self._shared(change)
