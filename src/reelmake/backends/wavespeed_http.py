"""WaveSpeed transport: base URL rules, the response envelope, the shared 429 limiter, key scrubbing.

Everything here is provider plumbing that :mod:`reelmake.backends.wavespeed` builds its money-safety
rules on. The API key is attached per request (never as a client default) so it can never ride
along to an upload or download host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import BackendError, BackendUnavailable

log = logging.getLogger("reelmake.backends.wavespeed")

DEFAULT_BASE_URL = "https://api.wavespeed.ai"


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


@dataclass(frozen=True)
class Reply:
    """A decoded WaveSpeed answer: HTTP status, envelope code, message, provider error code, data."""

    status: int
    code: int | None
    message: str
    error_code: int | None
    data: Any
    parsed: bool

    @property
    def ok(self) -> bool:
        # The envelope is authoritative: code != 200 is an error even on HTTP 200.
        return 200 <= self.status < 300 and self.parsed and self.code == 200

    @property
    def provider_code(self) -> int | None:
        """The most specific code the provider gave (1401 over 400)."""
        return self.error_code or self.code


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def decode(response: httpx.Response) -> Reply:
    """Decode a response (already read) into a :class:`Reply`; never raises."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text[:200].strip() if response.content else ""
        return Reply(response.status_code, None, text or response.reason_phrase, None, None, parsed=False)
    return Reply(
        status=response.status_code,
        code=_int_or_none(body.get("code")),
        message=str(body.get("message") or response.reason_phrase or ""),
        error_code=_int_or_none(body.get("error_code")),
        data=body.get("data"),
        parsed=True,
    )


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


class Api:
    """An authenticated WaveSpeed API session: one httpx client, one limiter, one key."""

    def __init__(
        self, base_url: str, key: str, *, timeout: httpx.Timeout, limiter: RateLimiter, retry_backoff: float = 0.5
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry_backoff = retry_backoff
        self._key = key
        self.timeout = timeout
        self.limiter = limiter
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:  # the key must not show up in reprs either
        return f"Api({self.base_url!r})"

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def scrub(self, text: str) -> str:
        """``text`` with the key blanked out: providers sometimes echo credentials in errors."""
        return text.replace(self._key, "[redacted]") if self._key else text

    async def send(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        """One authenticated request after the shared limiter allows it. No retries here."""
        await self.limiter.wait()
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        extra = {"timeout": httpx.Timeout(timeout, connect=self.timeout.connect)} if timeout else {}
        return await self.client.request(method, f"{self.base_url}{path}", headers=headers, **kwargs, **extra)

    async def call(self, method: str, path: str, *, what: str, attempts: int = 5, **kwargs: Any) -> Any:
        """A safe-to-repeat request (poll, history, price, upload ticket): retried on transport errors,
        429 and 5xx; returns the envelope's ``data`` or raises :class:`BackendError`.
        """
        delay = self.retry_backoff
        for attempt in range(1, attempts + 1):
            try:
                response = await self.send(method, path, **kwargs)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if attempt == attempts:
                    raise BackendError(
                        f"{what}: WaveSpeed did not answer after {attempts} attempts ({self.scrub(reason)}).",
                        retryable=True,
                    ) from None
            else:
                reply = decode(response)
                if response.status_code == 429:
                    pause = self.limiter.penalize(retry_after_seconds(response))
                    log.warning("%s: rate limited by WaveSpeed (HTTP 429); pausing all requests %.1fs", what, pause)
                    if attempt == attempts:
                        raise BackendError(
                            f"{what}: WaveSpeed kept answering 429 (rate limited).", retryable=True, retry_after=pause
                        )
                    continue
                if reply.ok:
                    self.limiter.succeeded()
                    return reply.data
                if 400 <= response.status_code < 500 or (response.status_code < 300 and reply.parsed):
                    raise api_error(what, reply, self.scrub)
                reason = f"HTTP {response.status_code}: {reply.message}"
                if attempt == attempts:
                    raise BackendError(f"{what}: {self.scrub(reason)}", retryable=True, code=reply.provider_code)
            log.info("%s: attempt %d/%d failed; retrying in %.1fs", what, attempt, attempts, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 20 * self.retry_backoff)
        raise AssertionError("unreachable")


def api_error(what: str, reply: Reply, scrub: Any) -> BackendError:
    """A not-retryable error for an explicit rejection (4xx, or an error envelope), phrased for humans."""
    code = reply.provider_code or reply.status
    detail = scrub(reply.message or "no message")
    if reply.status in (401, 403) or code in (401, 403):
        return BackendError(
            f"{what}: WaveSpeed refused the API key (HTTP {reply.status}: {detail}). "
            "Check WAVESPEED_API_KEY (https://wavespeed.ai/accesskey).",
            code=code,
        )
    if reply.status == 402 or code == 402 or "balance" in detail.lower():
        return BackendError(f"{what}: {detail}. Top up the WaveSpeed balance and run again.", code=code)
    if reply.status == 404 or code == 404:
        return BackendError(f"{what}: not found at WaveSpeed ({detail}).", code=code)
    return BackendError(
        f"{what}: WaveSpeed rejected the request (HTTP {reply.status}, code {code}): {detail}", code=code
    )
