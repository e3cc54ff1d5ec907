"""Reference files to WaveSpeed URLs, uploaded once per content hash (see ``remote.uploads``).

Both documented routes: the SDK 2.x ticket (``POST /api/v3/media/uploads``, then a PUT of the bytes
to a pre-signed URL without our key) and the older binary route (``POST /api/v3/media/upload/binary``).
"""

from __future__ import annotations

import logging
import mimetypes
from typing import Any

from ...errors import BackendError, NotSent, SubmitRejected
from ...jobs import InputFile
from ..remote.http import check_url
from ..remote.uploads import CachedUploader, UploadCache, send_upload_step
from .api import Api, decode

log = logging.getLogger("reelmake.backends.wavespeed")

# WaveSpeed deletes uploaded files after 7 days (PROVIDERS.md).
PROVIDER_TTL = 7 * 24 * 3600.0


class Uploader(CachedUploader):
    """Turns :class:`InputFile` objects into provider URLs, uploading when the cache has none."""

    log = log

    def __init__(self, api: Api, cache: UploadCache) -> None:
        super().__init__(cache)  # UploadCache(directory, base_url, PROVIDER_TTL)
        self.api = api
        self._ticket_route = True  # False once the provider says the SDK 2.x route does not exist

    async def _upload(self, file: InputFile, data: bytes) -> str:
        filename = file.path.name
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        what = f"upload of {filename} ({file.name})"
        if self._ticket_route:
            try:
                announce = {"filename": filename, "size": len(data), "content_type": content_type}
                ticket = await self.api.call("POST", "/api/v3/media/uploads", what=what, json=announce)
            except BackendError as exc:
                if exc.code not in (404, 405):
                    raise
                log.info("WaveSpeed has no /api/v3/media/uploads here; using the binary upload route")
                self._ticket_route = False
            else:
                return await self._put(what, ticket, data)
        result = await self.api.call(
            "POST", "/api/v3/media/upload/binary", what=what, files={"file": (filename, data, content_type)}
        )
        return _download_url(what, result)

    async def _put(self, what: str, ticket: Any, data: bytes) -> str:
        upload = ticket.get("upload") if isinstance(ticket, dict) else None
        if not isinstance(upload, dict) or str(upload.get("method", "")).upper() != "PUT" or not upload.get("url"):
            raise SubmitRejected(f"{what}: WaveSpeed returned an upload ticket reelmake does not understand: {ticket!r}")
        url = check_url(str(upload["url"]), "upload URL from WaveSpeed")
        headers = {str(k): str(v) for k, v in (upload.get("headers") or {}).items()}
        # A pre-signed storage URL: exactly the headers it names, and never our Authorization.
        await send_upload_step(self.api.client, what, "PUT", url, where="the storage server", timeout=self.api.timeout,
                               log=log, detail=lambda response: decode(response).message, content=data,
                               headers=headers)
        return _download_url(what, ticket)


def _download_url(what: str, data: Any) -> str:
    url = data.get("download_url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url:
        raise NotSent(f"{what}: WaveSpeed's answer has no download_url: {data!r}")
    return check_url(url, "download URL from WaveSpeed")
