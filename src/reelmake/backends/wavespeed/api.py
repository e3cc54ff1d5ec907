"""WaveSpeed's API session: the response envelope, one authenticated client, key scrubbing.

The API key is attached per request (never as a client default) so it can never ride along to an
upload or download host.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from ...errors import BackendError, Transient
from ..remote.http import retry_after_seconds

log = logging.getLogger("reelmake.backends.wavespeed")

DEFAULT_BASE_URL = "https://api.wavespeed.ai"


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


class Api:
    """An authenticated WaveSpeed API session: one httpx client, one key.

    Nothing here waits for anything but its own request: a 429 on a poll or lookup pauses that request
    only (``Retry-After`` when given, else ``rate_limit_backoff`` doubling), and submit pacing happens in
    the backend, so polls are never held up by submits."""

    def __init__(
        self, base_url: str, key: str, *, timeout: httpx.Timeout, retry_backoff: float = 0.5,
        rate_limit_backoff: float = 2.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry_backoff = retry_backoff
        self.rate_limit_backoff = rate_limit_backoff
        self._key = key
        self.timeout = timeout
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

    def fingerprint(self) -> str:
        """Names this account (endpoint and key) without revealing the key: for pacing state."""
        return hashlib.sha256(f"{self.base_url}\n{self._key}".encode()).hexdigest()[:16]

    async def send(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        """One authenticated request. No retries here."""
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        extra = {"timeout": httpx.Timeout(timeout, connect=self.timeout.connect)} if timeout else {}
        return await self.client.request(method, f"{self.base_url}{path}", headers=headers, **kwargs, **extra)

    async def call(self, method: str, path: str, *, what: str, attempts: int = 5, **kwargs: Any) -> Any:
        """A safe-to-repeat request (poll, history, price, upload ticket): retried on transport errors,
        429 and 5xx; returns the envelope's ``data``. Raises :class:`Transient` when the provider could
        not be reached or kept failing, and :func:`api_error`'s BackendError when it refused the request.
        """
        delay = self.retry_backoff
        limited = 0
        for attempt in range(1, attempts + 1):
            try:
                response = await self.send(method, path, **kwargs)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if attempt == attempts:
                    raise Transient(
                        f"{what}: WaveSpeed did not answer after {attempts} attempts ({self.scrub(reason)})."
                    ) from None
            else:
                reply = decode(response)
                if response.status_code == 429:
                    if attempt == attempts:
                        raise Transient(f"{what}: WaveSpeed kept answering 429 (rate limited).")
                    hinted = retry_after_seconds(response)
                    pause = hinted if hinted is not None else min(60.0, self.rate_limit_backoff * 2**limited)
                    limited += 1
                    log.info("%s: rate limited by WaveSpeed (HTTP 429); this request waits %.1fs", what, pause)
                    await asyncio.sleep(pause)
                    continue
                if reply.ok:
                    return reply.data
                if 400 <= response.status_code < 500 or (response.status_code < 300 and reply.parsed):
                    raise api_error(what, reply, self.scrub)
                reason = f"HTTP {response.status_code}: {reply.message}"
                if attempt == attempts:
                    raise Transient(f"{what}: {self.scrub(reason)}", code=reply.provider_code)
            log.info("%s: attempt %d/%d failed; retrying in %.1fs", what, attempt, attempts, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 20 * self.retry_backoff)
        raise AssertionError("unreachable")


def api_error(what: str, reply: Reply, scrub: Any, cls: type[BackendError] = BackendError) -> BackendError:
    """An explicit rejection (4xx, or an error envelope) as a ``cls`` error, phrased for humans."""
    code = reply.provider_code or reply.status
    detail = scrub(reply.message or "no message")
    if reply.status in (401, 403) or code in (401, 403):
        return cls(
            f"{what}: WaveSpeed refused the API key (HTTP {reply.status}: {detail}). "
            "Check WAVESPEED_API_KEY (https://wavespeed.ai/accesskey).",
            code=code,
        )
    if reply.status == 402 or code == 402 or "balance" in detail.lower():
        return cls(f"{what}: {detail}. Top up the WaveSpeed balance and run again.", code=code)
    if reply.status == 404 or code == 404:
        return cls(f"{what}: not found at WaveSpeed ({detail}).", code=code)
    return cls(
        f"{what}: WaveSpeed rejected the request (HTTP {reply.status}, code {code}): {detail}", code=code
    )
