"""Reference files to fal URLs through fal's storage, uploaded once per content hash.

The route is the one the official ``fal-client`` uses for its "fal" upload repository
(fal-ai/fal, projects/fal_client/src/fal_client/client.py, ``_async_upload_via_storage``):
``POST {rest}/storage/upload/initiate?storage_type=gcs`` with ``{"file_name", "content_type"}`` answers
``{"upload_url", "file_url"}``; the bytes then go to ``upload_url`` by ``PUT`` with only a
``Content-Type`` header (a pre-signed URL: our key never goes there). We ask for a known lifetime with
``X-Fal-Object-Lifecycle-Preference: {"expiration_duration_seconds": N}`` (the client's
``_storage_upload_headers``), so the cache knows when a URL stops working.

fal-client itself is not used: its requests cannot be pointed at a loopback server (the REST and CDN
hosts are constants) and it retries on its own (``_async_maybe_retry_request``).
"""

from __future__ import annotations

import json
import logging
import mimetypes
from typing import Any

import httpx

from ...errors import NotSent
from ...jobs import InputFile
from ..remote.http import check_url
from ..remote.uploads import CachedUploader, UploadCache, send_upload_step

log = logging.getLogger("reelmake.backends.fal")

LIFETIME = 7 * 24 * 3600  # what we ask fal to keep an upload for; the cache forgets it 6 h earlier


class FalStorage(CachedUploader):
    """Turns :class:`InputFile` objects into fal storage URLs, uploading when the cache has none."""

    log = log

    def __init__(self, client: httpx.AsyncClient, rest_url: str, auth: dict[str, str], cache: UploadCache,
                 timeout: httpx.Timeout, backoff: float = 0.5) -> None:
        super().__init__(cache)
        self.client = client
        self.rest_url = rest_url
        self._auth = auth
        self.timeout = timeout
        self.backoff = backoff

    async def _upload(self, file: InputFile, data: bytes) -> str:
        name = file.path.name
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        what = f"upload of {name} ({file.name}) to fal"
        headers = {**self._auth, "Accept": "application/json",
                   "X-Fal-Object-Lifecycle-Preference": json.dumps({"expiration_duration_seconds": LIFETIME})}
        ticket = await self._send(what, "POST", f"{self.rest_url}/storage/upload/initiate?storage_type=gcs",
                                    json={"file_name": name, "content_type": content_type}, headers=headers)
        try:
            body = ticket.json()
            upload_url, file_url = str(body["upload_url"]), str(body["file_url"])
        except (ValueError, KeyError, TypeError):
            raise NotSent(f"{what}: fal's answer has no upload_url/file_url") from None
        check_url(upload_url, "upload URL from fal")
        await self._send(what, "PUT", upload_url, content=data, headers={"Content-Type": content_type})
        return check_url(file_url, "file URL from fal")

    async def _send(self, what: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await send_upload_step(self.client, what, method, url, where="fal's storage", timeout=self.timeout,
                                      log=log, backoff=self.backoff, hint="; check FAL_KEY", **kwargs)
