"""HTTP plumbing every hosted-API backend shares: which URLs may be contacted, ``Retry-After``, and
the limiter that pauses a backend's requests after a 429.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from ...errors import BackendUnavailable

log = logging.getLogger("reelmake.backends")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """``url`` if it is https, or plain http to a loopback address; else BackendUnavailable."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return url
    raise BackendUnavailable(
        f"{what} {url!r} is not allowed: use an https:// URL (plain http:// only for a loopback address "
        "such as http://127.0.0.1:8000, e.g. a local test server)."
    )


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (either form the RFC allows), or None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class RateLimiter:
    """Shared by every request of one backend: a 429 anywhere pauses them all.

    Honours ``Retry-After`` when the provider sends it; otherwise backs off exponentially with the
    number of consecutive 429s, and forgets them after the next success.
    """

    def __init__(self, base_delay: float = 2.0, max_delay: float = 60.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._resume_at = 0.0
        self._strikes = 0

    async def wait(self) -> None:
        while (delay := self._resume_at - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    def penalize(self, retry_after: float | None) -> float:
        self._strikes += 1
        if retry_after is None:
            retry_after = min(self.max_delay, self.base_delay * 2 ** (self._strikes - 1))
        self._resume_at = max(self._resume_at, time.monotonic() + retry_after)
        return retry_after

    def succeeded(self) -> None:
        self._strikes = 0
