"""Which reference files a host already has: its URL per content hash, remembered until it expires.

Hosts take URLs, delete uploads after a while, and limit how much may be uploaded, so each distinct
file is uploaded at most once per host while its URL is fresh: across shots, storyboards and runs
(one small JSON per hash in the backend's workspace folder). :class:`CachedUploader` holds what
every host does around its own upload route.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from hashlib import sha256
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ...errors import NotSent, SubmitRejected
from ...fsutil import atomic_write_text
from ...jobs import InputFile

# Forget a URL well before the provider deletes the file: a render that takes hours must still find it.
SAFETY_MARGIN = 6 * 3600.0


class UploadCache:
    """``<sha256>-<base url tag>.json`` files holding ``{"url", "uploaded_at", "expires_at"}``."""

    def __init__(self, directory: Path | None, base_url: str, ttl: float) -> None:
        self.directory = directory
        self.ttl = ttl
        self._tag = sha256(base_url.encode()).hexdigest()[:12]
        self._memory: dict[str, dict[str, Any]] = {}

    def _path(self, digest: str) -> Path | None:
        return self.directory / f"{digest}-{self._tag}.json" if self.directory else None

    def get(self, digest: str, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        entry = self._memory.get(digest)
        path = self._path(digest)
        if entry is None and path is not None and path.exists():
            try:
                entry = json.loads(path.read_text())
            except (OSError, ValueError):
                entry = None  # a damaged entry only costs one upload
        if entry and float(entry.get("expires_at", 0)) > now and isinstance(entry.get("url"), str):
            self._memory[digest] = entry
            return entry["url"]
        return None

    def put(self, digest: str, url: str, uploaded_at: float) -> None:
        expires_at = uploaded_at + self.ttl - SAFETY_MARGIN
        entry = {"sha256": digest, "url": url, "uploaded_at": uploaded_at, "expires_at": expires_at}
        self._memory[digest] = entry
        path = self._path(digest)
        if path is not None:
            atomic_write_text(path, json.dumps(entry, indent=1) + "\n")

    def forget(self, digest: str) -> None:
        self._memory.pop(digest, None)
        path = self._path(digest)
        if path is not None:
            path.unlink(missing_ok=True)


UPLOAD_ATTEMPTS = 3  # uploads create nothing billed, so a step of one may be repeated


async def send_upload_step(client: httpx.AsyncClient, what: str, method: str, url: str, *, where: str,
                           timeout: Any, log: logging.Logger, backoff: float = 0.5, hint: str = "",
                           detail: Callable[[httpx.Response], str] | None = None, **kwargs: Any) -> httpx.Response:
    """One request of an upload (asking for a ticket, putting the bytes), repeated on a transport error,
    429 or 5xx with doubling delays; another refusal is SubmitRejected, giving up is NotSent. ``where``
    names the server in messages, ``hint`` says what to check after a refusal, ``detail`` reads an
    error answer."""
    delay, failure = backoff, ""
    for attempt in range(1, UPLOAD_ATTEMPTS + 1):
        try:
            response = await client.request(method, url, timeout=timeout, **kwargs)
        except httpx.TransportError as exc:
            failure = type(exc).__name__
        else:
            if 200 <= response.status_code < 300:
                return response
            failure = f"HTTP {response.status_code}" + (f": {detail(response)}" if detail else "")
            if response.status_code < 500 and response.status_code != 429:
                raise SubmitRejected(f"{what}: {where} refused it ({failure}){hint}. Nothing was submitted.")
        log.info("%s: %s attempt %d failed (%s)", what, method, attempt, failure)
        await asyncio.sleep(delay)
        delay *= 2
    raise NotSent(f"{what}: {where} did not take the file ({failure}); nothing was submitted.")


class CachedUploader:
    """Turns :class:`InputFile` objects into a host's URLs, uploading when the cache has none.

    A subclass names its ``log`` and implements ``_upload(file, data) -> url``, the host's own route.
    """

    log: logging.Logger

    def __init__(self, cache: UploadCache) -> None:
        self.cache = cache
        # One upload per file at a time: shots sharing a reference wait for its URL instead of uploading it again.
        self._locks: dict[str, asyncio.Lock] = {}

    async def url_for(self, file: InputFile) -> str:
        async with self._locks.setdefault(file.sha256, asyncio.Lock()):
            url = self.cache.get(file.sha256)
            if url is not None:
                return url
            try:
                data = await asyncio.to_thread(file.path.read_bytes)
            except OSError as exc:
                raise SubmitRejected(f"cannot read reference file {file.path} ({file.name}): {exc.strerror}") from None
            if sha256(data).hexdigest() != file.sha256:
                raise SubmitRejected(
                    f"reference file {file.path} ({file.name}) changed since the plan was made; run again to re-plan."
                )
            started = time.time()
            url = await self._upload(file, data)
            self.cache.put(file.sha256, url, started)
            self.log.info("uploaded %s (%s, %d bytes) -> %s", file.path.name, file.name, len(data), url)
            return url

    async def _upload(self, file: InputFile, data: bytes) -> str:
        raise NotImplementedError
