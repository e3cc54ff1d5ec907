"""fal.ai as a host, on its queue API: submit, poll, fetch the result, download.

The protocol (fal.ai/docs/documentation/model-apis/inference/queue and /api-reference/inference-api):
``POST {queue}/{endpoint_id}`` with ``Authorization: Key $FAL_KEY`` answers ``{request_id, response_url,
status_url, cancel_url}``; ``GET …/requests/{id}/status`` answers 202 with ``IN_QUEUE`` (and
``queue_position``) or ``IN_PROGRESS``, 200 with ``COMPLETED`` (plus ``error``/``error_type`` when it
failed); ``GET …/requests/{id}`` returns the model's output (``{"video": {"url", …}}``) or the model's
error with its status code. Status and result URLs use only the endpoint's owner and app (the submit
answer's URLs say so; after a crash only the request id is journaled, so they are rebuilt the way
fal-client's ``AsyncRequestHandle.from_request_id`` does). fal keeps a result for 1 hour after
completion (fal.ai/docs/inference-api/queue/result): a rerun after that finds the request gone.

Money (fal.ai/docs/documentation/model-apis/inference/reliability, /errors): server errors (5xx) are
never billed and fal retries runner failures itself; a 422 (invalid input, content policy) is not
retried and may be billed when the model already ran. The submit POST is sent once per call: a
connection refused is :class:`NotSent`, a 429 :class:`RateLimited`, any other 4xx
:class:`SubmitRejected`; everything after the request may have left (a dropped connection, a 5xx, an
unreadable answer) is :class:`SubmitAmbiguous`. fal cannot look a request up by anything of ours, so
``reconcile`` finds nothing and an ambiguous submit is held until ``--resubmit`` (or an adoption of the
request id from fal's dashboard); it is never sent again blindly. This is why ``fal-client`` is not
used: its submit retries dropped connections and 502s by itself (``_async_maybe_retry_request``),
which can create a second billed request.

Keys and endpoints come from the environment only: ``FAL_KEY``; ``FAL_BASE_URL`` replaces both
``https://queue.fal.run`` and ``https://rest.fal.ai`` (storage) with one base (tests: a loopback fake).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ...errors import (
    BackendError,
    NotSent,
    RateLimited,
    SubmitAmbiguous,
    SubmitRejected,
    TaskFailed,
    TaskLost,
    Transient,
)
from ...jobs import Ambiguity, Reconciliation, RenderJob, SendHook, StatusCallback, TaskOutput
from ..remote.backend import HostedBackend
from ..remote.http import check_url, retry_after_seconds
from ..remote.keys import read_key
from ..remote.refs import replace_refs
from ..remote.uploads import UploadCache
from .storage import LIFETIME, FalStorage

log = logging.getLogger("reelmake.backends.fal")

KEY_ENV = "FAL_KEY"
BASE_URL_ENV = "FAL_BASE_URL"
QUEUE_URL = "https://queue.fal.run"
REST_URL = "https://rest.fal.ai"
RUNNING = ("IN_QUEUE", "IN_PROGRESS")


def app_path(endpoint: str) -> str:
    """``fal-ai/kling-video/o3/pro/reference-to-video`` → ``fal-ai/kling-video``: the owner and app that
    status and result URLs use (fal-client ``AppId.from_endpoint_id``; namespaced apps keep the prefix)."""
    parts = endpoint.split("/")
    keep = 3 if parts[0] in ("workflows", "comfy") else 2
    return "/".join(parts[:keep])


def _detail(response: httpx.Response) -> str:
    """fal's error body in a line: a string ``detail`` (request errors) or a list of ``{msg, type}``
    (model errors, fal.ai/docs/documentation/model-apis/errors)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        parts = [f"{d.get('msg', '')} ({d.get('type', '')})" for d in detail if isinstance(d, dict)]
        return "; ".join(parts) or f"HTTP {response.status_code}"
    return str(detail or f"HTTP {response.status_code}")


class FalBackend(HostedBackend):
    """Renders jobs on fal's queue; see the module docstring for the protocol and the money rules."""

    name = "fal"
    host = "fal"
    log = log
    key_envs = (KEY_ENV,)

    def __init__(self, settings: Mapping[str, Any], folder: Path | None = None) -> None:
        super().__init__(settings)
        base = (os.environ.get(BASE_URL_ENV) or "").strip().rstrip("/")
        self.queue_url = base or QUEUE_URL
        self.rest_url = base or REST_URL
        self._upload_dir = Path(folder) / "uploads" if folder else None
        self._storage: FalStorage | None = None
        self._key = ""

    @property
    def api_url(self) -> str:
        return self.queue_url

    def __repr__(self) -> str:  # the key must not show up in reprs
        return f"FalBackend(queue_url={self.queue_url!r})"

    def preflight(self, jobs: list[RenderJob]) -> None:
        """Fail before anything is uploaded or spent: a missing key or a disallowed base URL."""
        check_url(self.queue_url, "fal base URL")
        check_url(self.rest_url, "fal storage URL")
        self._key = read_key(KEY_ENV, "https://fal.ai/dashboard/keys", len(jobs))

    @property
    def auth(self) -> dict[str, str]:
        self.client  # noqa: B018 - reads the key
        return {"Authorization": f"Key {self._key}"}

    def _headers(self) -> dict[str, str]:
        return {**self.auth, "Accept": "application/json"}

    @property
    def storage(self) -> FalStorage:
        if self._storage is None:
            cache = UploadCache(self._upload_dir, self.rest_url, float(LIFETIME))
            self._storage = FalStorage(self.client, self.rest_url, self.auth, cache, self.timeout, self.retry_backoff)
        return self._storage

    def scrub(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text

    # --- submit ----------------------------------------------------------------------------------

    async def resolve(self, job: RenderJob) -> dict[str, Any]:
        """``job.request`` with local files replaced by fal storage URLs; nothing is submitted yet, so a
        failure here is :class:`NotSent` or :class:`SubmitRejected`."""
        async def url_for(ref: str) -> str:
            return await self.storage.url_for(job.file(ref))

        try:
            return await replace_refs(dict(job.request), url_for)
        except (NotSent, SubmitRejected):
            raise
        except BackendError as exc:
            raise NotSent(str(exc)) from None

    async def submit(self, job: RenderJob, *, on_status: StatusCallback | None = None,
                     on_send: SendHook | None = None) -> str:
        """POST the job to the queue once; return fal's request id."""
        body = await self.resolve(job)
        what = f"shot {job.shot_id}: submit to fal {job.endpoint}"
        response = await self._post_once(what, f"{self.queue_url}/{job.endpoint}", on_send, json=body)
        status = response.status_code
        if status == 429:
            raise RateLimited(f"{what}: fal answered 429 (too many requests); nothing was submitted.",
                              retry_after=retry_after_seconds(response))
        if 400 <= status < 500:
            raise SubmitRejected(f"{what}: fal refused the request (HTTP {status}: {self.scrub(_detail(response))}); "
                                 "no request was created.", code=status)
        try:
            request_id = response.json().get("request_id") if 200 <= status < 300 else None
        except (ValueError, AttributeError):
            request_id = None
        if not isinstance(request_id, str) or not request_id:
            raise self._ambiguous(what, f"HTTP {status}")
        log.info("%s: request %s queued", what, request_id)
        return request_id

    def _ambiguous(self, what: str, reason: str) -> SubmitAmbiguous:
        return SubmitAmbiguous(
            f"{what}: the request was sent but no request id came back ({reason}). fal may have queued a paid "
            "request, and fal cannot look it up by anything reelmake knows: find it on fal's dashboard "
            "(fal.ai/dashboard/requests); rerun with --resubmit to pay for a new one deliberately."
        )

    # --- wait ------------------------------------------------------------------------------------

    def _request_url(self, job: RenderJob, request_id: str) -> str:
        return f"{self.queue_url}/{app_path(job.endpoint)}/requests/{request_id}"

    def _is_answer(self, response: httpx.Response) -> bool:
        # A 5xx that names its error type is the request's own failure (fal's request errors carry
        # X-Fal-Error-Type), not a gateway's: it is the answer, not a reason to ask again.
        own_error = "x-fal-error-type" in response.headers
        return response.status_code != 429 and (response.status_code < 500 or own_error)

    async def wait(self, job: RenderJob, task_id: str, on_status: StatusCallback) -> TaskOutput:
        """Poll the request's status until it is COMPLETED, then read its result."""
        what = f"shot {job.shot_id}: fal request {task_id}"
        url = self._request_url(job, task_id)
        async for response in self._polls(what, f"{url}/status", on_status):
            if response.status_code == 404:
                raise TaskLost(f"{what}: fal does not know this request (or FAL_KEY / FAL_BASE_URL point at another "
                               "account). Rerun the shot with --force.", task_id=task_id, code=404)
            if response.status_code >= 400:  # a revoked key, say: the request may still run and bill
                raise Transient(f"{what}: status refused (HTTP {response.status_code}); the request is kept and "
                                "the next run resumes it.", task_id=task_id, code=response.status_code)
            try:
                state = response.json()
                status = str(state.get("status", ""))
            except (ValueError, AttributeError):
                raise Transient(f"{what}: unreadable status answer.", task_id=task_id) from None
            if status in RUNNING:
                position = state.get("queue_position")
                on_status("running", f"in queue (position {position})" if status == "IN_QUEUE" else "in progress")
                continue
            if status == "COMPLETED":
                return await self._result(job, task_id, url)
            raise Transient(f"{what}: unknown status {status!r} from fal.", task_id=task_id)
        raise AssertionError("unreachable")

    async def _result(self, job: RenderJob, task_id: str, url: str) -> TaskOutput:
        what = f"shot {job.shot_id}: fal request {task_id}"
        response = await self._get(what, url)
        status = response.status_code
        if status == 200:
            try:
                video = response.json()["video"]
                video_url = str(video["url"])
            except (ValueError, KeyError, TypeError):
                raise Transient(f"{what}: completed without a video URL; report it to fal.", task_id=task_id) from None
            return TaskOutput(task_id=task_id, urls=(video_url,), raw=response.json())
        detail = self.scrub(_detail(response))
        if status == 404:
            raise TaskLost(f"{what}: the result is gone (fal keeps results for an hour). Render the shot again with "
                           "--force (it will be paid again).", task_id=task_id, code=404)
        if status == 422:
            raise TaskFailed(f"{what} failed: {detail}. Change the prompt or references; fal may bill a 422 when the "
                             "model already ran, so it is not sent again.", task_id=task_id, code=422)
        if status in (401, 403):
            raise Transient(f"{what}: result refused (HTTP {status}); check FAL_KEY.", task_id=task_id, code=status)
        # Any other error ended the request on fal's side; server errors are not billed, so a new one may succeed.
        raise TaskFailed(f"{what} failed at fal (HTTP {status}: {detail}; not billed).", retryable=status >= 500,
                         task_id=task_id, code=status)

    async def reconcile(self, job: RenderJob, ambiguity: Ambiguity) -> Reconciliation:
        """fal has no lookup of a request by our own id: nothing to find (the shot is held)."""
        log.warning("shot %s: fal cannot look up an ambiguous submit; holding it for --adopt or --resubmit",
                    job.shot_id)
        return Reconciliation()


__all__ = ["BASE_URL_ENV", "KEY_ENV", "FalBackend", "app_path"]
