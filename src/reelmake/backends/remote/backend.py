"""What every hosted backend does the same way: its shared settings (``settings.hosted_schema``), one
HTTP client, the submit POST sent once, safe-to-repeat GETs, polling and the verified download.

The host-specific parts (auth, routes, answers, what a refusal means) stay in each host's backend.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from ...errors import NotSent, SubmitAmbiguous, Transient
from ...jobs import RenderJob, SendHook, StatusCallback, TaskOutput
from .download import download_and_verify
from .keys import account_fingerprint, poll_delays

GET_ATTEMPTS = 6  # tries of a safe-to-repeat GET before it is Transient


class HostedBackend:
    """A base for hosted backends. A subclass sets ``name``, ``host`` (the provider in messages) and ``log``,
    ``key_envs`` (the environment variables holding its credentials) and ``base_url`` (the API they are
    sent to; ``api_url`` where that differs), implements ``preflight`` (which reads the keys), and, to use ``_post_once``, ``_get`` and
    ``_polls``, ``_headers`` and ``_ambiguous``."""

    remote = True
    name: str
    host: str
    log: logging.Logger
    key_envs: tuple[str, ...]
    base_url: str

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)
        self.poll_initial = float(self.settings.get("poll_initial", 2.0))
        self.poll_max = float(self.settings.get("poll_max", 10.0))
        self.poll_factor = float(self.settings.get("poll_factor", 1.5))
        self.retry_backoff = float(self.settings.get("retry_backoff", 0.5))
        self.submit_timeout = float(self.settings.get("submit_timeout", 60.0))
        self.max_download_bytes = int(float(self.settings.get("max_download_mb", 500)) * 1024 * 1024)
        self.timeout = httpx.Timeout(float(self.settings.get("read_timeout", 30.0)),
                                     connect=float(self.settings.get("connect_timeout", 10.0)))
        self._client: httpx.AsyncClient | None = None

    @property
    def api_url(self) -> str:
        return self.base_url

    def account(self, salt: bytes) -> str | None:
        """This account's fingerprint for claims in a shared remote store: the API's address and the
        credentials, hashed with the store's salt (see ``account_fingerprint``); None without credentials."""
        secrets = [os.environ.get(name, "").strip() for name in self.key_envs]
        return account_fingerprint("\n".join([self.api_url, *secrets]), salt) if all(secrets) else None

    def preflight(self, jobs: list[RenderJob]) -> None:
        raise NotImplementedError

    def _headers(self) -> dict[str, str]:
        """The auth headers of one API request (never a client default: they must not reach a storage or
        CDN host, and downloads go through this client too)."""
        raise NotImplementedError

    def _ambiguous(self, what: str, reason: str) -> SubmitAmbiguous:
        raise NotImplementedError

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self.preflight([])  # reads the keys
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _post_once(self, what: str, url: str, on_send: SendHook | None, **kwargs: Any) -> httpx.Response:
        """The submit POST, sent exactly once: a connection refused is :class:`NotSent`, anything after the
        request may have left is :class:`SubmitAmbiguous`; the caller reads the answer."""
        timeout = httpx.Timeout(self.submit_timeout, connect=self.timeout.connect)
        client, headers = self.client, self._headers()  # a missing key fails here, before the intent
        if on_send is not None:
            await on_send()  # the engine journals its intent here: from now on a task may exist
        try:
            return await client.post(url, headers=headers, timeout=timeout, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NotSent(f"{what}: could not connect ({type(exc).__name__}); nothing was submitted.") from None
        except httpx.TransportError as exc:
            raise self._ambiguous(what, type(exc).__name__) from None

    def _is_answer(self, response: httpx.Response) -> bool:
        """Whether a GET's response is the host's answer rather than a reason to ask again (429, 5xx)."""
        return response.status_code != 429 and response.status_code < 500

    async def _get(self, what: str, url: str) -> httpx.Response:
        """A safe-to-repeat GET: transport errors, 429 and 5xx are retried, then :class:`Transient`."""
        delay, reason = self.retry_backoff, ""
        for _ in range(GET_ATTEMPTS):
            try:
                response = await self.client.get(url, headers=self._headers())
            except httpx.TransportError as exc:
                reason = type(exc).__name__
            else:
                if self._is_answer(response):
                    return response
                reason = f"HTTP {response.status_code}"
            await asyncio.sleep(delay)
            delay = min(delay * 2, 20 * self.retry_backoff)
        raise Transient(f"{what}: {self.host} did not answer ({reason}).")

    async def _polls(self, what: str, url: str, on_status: StatusCallback) -> AsyncIterator[httpx.Response]:
        """The answers to GETs of ``url`` on the backoff schedule, without end. A poll that gets no answer
        is reported and skipped: the task may still be running and billed, so losing contact is not a
        failure of the task (the orchestrator's per-shot timeout bounds an outage that never ends)."""
        for delay in poll_delays(self.poll_initial, self.poll_factor, self.poll_max):
            await asyncio.sleep(delay)
            try:
                response = await self._get(what, url)
            except Transient as exc:
                self.log.warning("%s: polling failed (%s); still waiting", what, exc)
                on_status("running", "provider unreachable, retrying")
                continue
            yield response

    async def fetch(self, job: RenderJob, output: TaskOutput, dest: Path) -> None:
        """Download the clip to ``dest`` (atomically) and verify it is the clip we asked for."""
        await download_and_verify(self.client, job, output, dest, self.max_download_bytes, self.timeout,
                                  host=self.host)
