"""Submit pacing: never send a submit the provider's rate limit is known to refuse.

Hosted APIs limit how many tasks an account may *start* per window (WaveSpeed: videos per minute by
account tier). :class:`SubmitScheduler` is a token bucket of ``submits`` tokens in which each token
comes back ``per`` seconds after the answer to the submit that used it: the answer is the latest
moment the provider can have created the task, so measured from there no ``per``-second window, sliding
or fixed, ever holds more than ``submits`` starts. A submit that provably created nothing (connection
refused, a refusal with a reason) gives its token back at once.

A 429 is not a failure: it means the window is full for a reason this process cannot see (another
process or the website on the same account, a tier set too high), so every submit waits for the window
(``Retry-After`` when given, else a share of the window that grows while 429s keep coming and resets on
the next start, see :meth:`SubmitScheduler.refused`). Nothing gives up, and only submits pass through
here: polls, uploads and downloads are never delayed by submit pacing.

Waiters are served in arrival order; each is told how long until its own turn is expected
(``on_wait(seconds)``), which the progress display shows as "waiting for rate limit, next slot in N s".
The recent starts are kept per backend and account in memory and, when given a file, on disk, so a
second run (or a second storyboard in the same process) right after the first does not trip the
limit either.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ...fsutil import atomic_write_text

_IN_FLIGHT = math.inf  # a token whose submit has not been answered yet
_POLL = 1.0  # at most this long between looks at the clock while waiting (keeps the countdown fresh)


class _Window:
    """The token times of one (backend, account): plain floats, shared by every scheduler on it."""

    def __init__(self, submits: int, per: float, state_file: Path | None) -> None:
        self.submits, self.per, self.state_file = submits, per, state_file
        self.free_at = [0.0] * submits  # epoch seconds at which each token may be used again
        self.blocked_until = 0.0
        self.streak = 0  # rounds of 429s since the last start that got through
        self.mutex = threading.Lock()
        self._load()

    def _load(self) -> None:
        if self.state_file is None:
            return
        try:
            saved = json.loads(self.state_file.read_text())
            answered = sorted(float(t) for t in saved.get("answered", []))[-self.submits:]
        except (OSError, ValueError, TypeError, AttributeError):
            return  # no file, or a damaged one: at worst one 429, which only costs a wait
        for i, at in enumerate(answered):
            self.free_at[i] = at + self.per

    def save(self) -> None:
        if self.state_file is None:
            return
        answered = sorted(t - self.per for t in self.free_at if 0 < t < _IN_FLIGHT)
        try:
            atomic_write_text(self.state_file, json.dumps({"answered": answered}) + "\n")
        except OSError:
            pass  # pacing state is an optimisation; a 429 is the fallback


_WINDOWS: dict[tuple[str, int, float], _Window] = {}
_WINDOWS_MUTEX = threading.Lock()


class SubmitScheduler:
    """Paces one backend's submits for one account; see the module docstring.

    ``account`` identifies the account without revealing it (a hash of endpoint and key); schedulers
    with the same ``account`` and limits share one window in this process. ``clock`` is for tests."""

    def __init__(self, submits: int, per: float, *, account: str = "", state_file: Path | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if submits < 1 or per <= 0:
            raise ValueError("a rate limit needs submits >= 1 and per > 0")
        with _WINDOWS_MUTEX:
            key = (account, submits, float(per))
            self._window = _WINDOWS.get(key) if account else None
            if self._window is None:
                self._window = _Window(submits, float(per), state_file)
                if account:
                    _WINDOWS[key] = self._window
        self.clock = clock
        self._queue: list[object] = []  # waiters in arrival order
        self._changed: asyncio.Event | None = None

    @property
    def submits(self) -> int:
        return self._window.submits

    @property
    def per(self) -> float:
        return self._window.per

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def eta(self, position: int = 0, now: float | None = None) -> float:
        """Seconds until the waiter at ``position`` can expect a token (0 when one is free now)."""
        now = self.clock() if now is None else now
        w = self._window
        with w.mutex:
            # An unanswered submit's token returns at the earliest ``per`` from now.
            times = sorted(max(now, t if t < _IN_FLIGHT else now + w.per) for t in w.free_at)
            expected = times[position % w.submits] + (position // w.submits) * w.per
            return max(0.0, expected - now, w.blocked_until - now)

    async def acquire(self, on_wait: Callable[[float], None] | None = None) -> int:
        """Wait for this submit's turn and a free token; return the token (give it to :meth:`answered`,
        :meth:`unused` or :meth:`refused`). ``on_wait(seconds)`` is called while waiting, when the
        countdown changes by a whole second."""
        if self._changed is None:
            self._changed = asyncio.Event()
        me = object()
        self._queue.append(me)
        shown: int | None = None
        try:
            while True:
                now = self.clock()
                token = self._take(me, now)
                if token is not None:
                    return token
                wait = self.eta(self._queue.index(me), now)
                if on_wait is not None and math.ceil(wait) != shown:
                    shown = math.ceil(wait)
                    on_wait(wait)
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=min(max(wait, 0.005), _POLL))
                except TimeoutError:
                    pass
        finally:
            self._queue.remove(me)
            self._notify()  # the next in line recomputes its turn

    def _take(self, me: object, now: float) -> int | None:
        if self._queue[0] is not me:
            return None
        w = self._window
        with w.mutex:
            if now < w.blocked_until:
                return None
            free = [i for i, t in enumerate(w.free_at) if t <= now]
            if not free:
                return None
            token = min(free, key=lambda i: w.free_at[i])
            w.free_at[token] = _IN_FLIGHT
            return token

    def answered(self, token: int) -> None:
        """The submit reached the provider (or may have): its token returns ``per`` seconds from now."""
        w = self._window
        with w.mutex:
            w.free_at[token] = self.clock() + w.per
            w.streak = 0
        w.save()
        self._notify()

    def unused(self, token: int) -> None:
        """The submit provably created nothing (never sent, or refused with a reason): token back now."""
        with self._window.mutex:
            self._window.free_at[token] = 0.0
        self._notify()

    def refused(self, token: int, retry_after: float | None) -> float:
        """The provider answered 429: no task, and the window is full. Returns the seconds everyone waits.

        We held a token, so by our own count the window had room: the starts that fill it are not ours to
        see (another process, the website, a tier set too high). Without ``Retry-After`` the wait starts at
        one token's share of the window (at least 1/100 of it) and doubles for each new round of 429s
        (several shots refused together are one round), up to the whole window; the first start that
        gets through resets it. Nothing is ever given up on."""
        w = self._window
        now = self.clock()
        with w.mutex:
            w.free_at[token] = 0.0
            if retry_after is not None:
                wait = retry_after
            else:
                if now >= w.blocked_until:
                    w.streak += 1
                base = max(w.per / w.submits, w.per / 100)
                wait = min(w.per, base * 2 ** (w.streak - 1))
            w.blocked_until = max(w.blocked_until, now + wait)
            wait = w.blocked_until - now
        self._notify()
        return wait
