"""Fault injection rules for the fake WaveSpeed provider (see the fault API in ``tests.fakes.wavespeed``)."""

from __future__ import annotations

import random
import threading
from typing import Any

# Rule kinds and the fields each accepts besides the common "count" (next N) and "share" (0..1).
KINDS: dict[str, frozenset[str]] = {
    "submit": frozenset({"status", "retry_after", "create"}),
    "poll": frozenset({"status", "retry_after"}),
    "slow": frozenset({"route", "seconds"}),
    "fail_tasks": frozenset({"code", "message"}),
    "truncate_downloads": frozenset({"mode"}),
    "upload": frozenset({"status"}),
}
ROUTES = ("submit", "poll", "download", "upload", "history", "price", "any")
_COMMON = frozenset({"count", "share"})


class FaultError(ValueError):
    """A fault description the fake does not understand."""


class Faults:
    """Thread-safe rule book: each kind holds at most one rule, consumed by :meth:`take`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, dict[str, Any]] = {}
        self._random = random.Random(0)
        self.http200_errors = False

    def configure(self, spec: dict[str, Any]) -> None:
        """Replace the rules of the kinds named in ``spec``; ``{"reset": true}`` clears everything first."""
        with self._lock:
            if spec.get("reset"):
                self._rules.clear()
                self.http200_errors = False
                self._random = random.Random(0)
            if "seed" in spec:
                self._random = random.Random(spec["seed"])
            if "http200_errors" in spec:
                self.http200_errors = bool(spec["http200_errors"])
            for kind, rule in spec.items():
                if kind in ("reset", "seed", "http200_errors"):
                    continue
                if kind not in KINDS:
                    raise FaultError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
                if rule is None:
                    self._rules.pop(kind, None)
                    continue
                if not isinstance(rule, dict):
                    raise FaultError(f"fault {kind!r} must be an object or null")
                extra = set(rule) - KINDS[kind] - _COMMON
                if extra:
                    raise FaultError(f"fault {kind!r} does not take {', '.join(sorted(extra))}")
                if kind == "slow" and rule.get("route", "any") not in ROUTES:
                    raise FaultError(f"slow.route must be one of {', '.join(ROUTES)}")
                if "count" not in rule and "share" not in rule:
                    rule = {**rule, "count": 1}
                self._rules[kind] = dict(rule)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"http200_errors": self.http200_errors, **{k: dict(v) for k, v in self._rules.items()}}

    def take(self, kind: str, route: str | None = None) -> dict[str, Any] | None:
        """The rule of ``kind`` if it fires for this request (consuming one use), else None."""
        with self._lock:
            rule = self._rules.get(kind)
            if rule is None:
                return None
            if kind == "slow" and rule.get("route", "any") not in ("any", route):
                return None
            share = rule.get("share")
            if share is not None and self._random.random() >= float(share):
                return None
            count = rule.get("count")
            if count is not None:
                rule["count"] = count - 1
                if rule["count"] <= 0:
                    del self._rules[kind]
            return dict(rule)
