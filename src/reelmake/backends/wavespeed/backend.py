"""WaveSpeed AI backend (Kling O3 reference-to-video): submit, poll, download, reconcile, price.

Money rules (PROVIDERS.md): the submit POST is not idempotent, so it is repeated only when the
request provably never left (connect error) or was explicitly refused (429). Anything else after
sending raises :class:`SubmitAmbiguous`: the orchestrator then calls :meth:`reconcile`, which looks
the task up in the provider's history instead of paying twice (see ``reconcile``).

Submits are paced by the account's tier (``settings.TIERS``): a submit waits for a free slot of the
rate window before it is sent, and a 429 means "wait for the window", never a failure.

Settings (``backends.wavespeed`` in the storyboard, see ``settings.SCHEMA``; ``folder`` is the backend's
workspace folder): ``tier`` / ``max_concurrency`` / ``rate_limit``; ``poll_initial`` / ``poll_max`` /
``poll_factor`` (seconds; default 2 → ×1.5 → 10); ``connect_timeout`` (10), ``submit_timeout`` (60),
``read_timeout`` (30); ``max_download_mb`` (500); ``rate_limit_backoff`` (2 s, a poll's pause after a
429); ``retry_backoff`` (0.5 s, first pause before repeating a safe request); ``submit_attempts`` (5,
for connect errors); ``clock_skew`` (120 s, around an ambiguous submit's window in the history).
The key comes from ``WAVESPEED_API_KEY`` only, and the endpoint from the catalog or the user's
environment (``WAVESPEED_BASE_URL``, which tests point at a loopback fake): never from a storyboard.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
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
from ...jobs import Ambiguity, Reconciliation, RenderJob, SendHook, StatusCallback, TaskOutput, is_file_ref
from ..remote.backend import HostedBackend
from ..remote.http import check_url, retry_after_seconds
from ..remote.keys import poll_delays, read_key
from ..remote.pacing import SubmitScheduler
from ..remote.uploads import UploadCache
from . import reconcile as history
from .api import DEFAULT_BASE_URL, Api, api_error, decode, log
from .settings import resolve
from .uploads import PROVIDER_TTL, Uploader

KEY_ENV = "WAVESPEED_API_KEY"
BASE_URL_ENV = "WAVESPEED_BASE_URL"

RUNNING = ("created", "processing")
FAILED = ("failed", "cancelled", "timeout", "deleted")
# Provider error codes: what they mean, and whether a *new* task may succeed (the failed one is refunded).
TASK_ERRORS: dict[int, tuple[str, bool]] = {
    1200: ("the provider's content moderation rejected the prompt or a reference; change them", False),
    1400: ("a required parameter is missing; fix the storyboard", False),
    1401: ("a parameter is invalid; fix the storyboard", False),
    1402: ("the provider could not fetch a reference URL (an expired upload or an unreachable link)", False),
    1403: ("the task failed; change the request rather than retrying it as is", False),
    1405: ("the task failed; change the request rather than retrying it as is", False),
    5000: ("internal error at the provider (the task is refunded; a new one may succeed)", True),
    5003: ("the provider is unavailable (the task is refunded; a new one may succeed)", True),
    5004: ("the task timed out at the provider (refunded; a new one may succeed)", True),
}
_CODE_IN_TEXT = re.compile(r"\b(1[24]0[0-5]|500[0-9])\b")


class WaveSpeedBackend(HostedBackend):
    """Renders Kling O3 jobs on WaveSpeed; see the module docstring for settings and safety rules.

    Its requests go through its :class:`Api` session (envelope, retries, pacing), so of
    :class:`HostedBackend` it uses the shared settings and the download only."""

    name = "wavespeed"
    host = "WaveSpeed"
    log = log
    key_envs = (KEY_ENV,)

    def __init__(self, settings: Mapping[str, Any], folder: Path | None = None) -> None:
        super().__init__(resolve(settings))
        self.folder = Path(folder) if folder else None
        self.base_url = (os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        self.submit_attempts = int(self.settings.get("submit_attempts", 5))
        self.rate_limit_backoff = float(self.settings.get("rate_limit_backoff", 2.0))
        self.clock_skew = float(self.settings.get("clock_skew", 120.0))
        self._upload_dir = Path(folder) / "uploads" if folder else None
        self._api: Api | None = None
        self._uploader: Uploader | None = None
        self._scheduler: SubmitScheduler | None = None
        self._key = ""

    def __repr__(self) -> str:
        return f"WaveSpeedBackend(base_url={self.base_url!r})"

    # --- setup ------------------------------------------------------------------------------

    def preflight(self, jobs: list[RenderJob]) -> None:
        """Fail before anything is uploaded or spent: a missing key or a disallowed base URL."""
        check_url(self.base_url, "WaveSpeed base URL")
        self._key = read_key(KEY_ENV, "https://wavespeed.ai/accesskey", len(jobs))

    @property
    def api(self) -> Api:
        if self._api is None:
            self.preflight([])
            self._api = Api(
                self.base_url, self._key, timeout=self.timeout, retry_backoff=self.retry_backoff,
                rate_limit_backoff=self.rate_limit_backoff,
            )
            self._uploader = Uploader(self._api, UploadCache(self._upload_dir, self.base_url, PROVIDER_TTL))
        return self._api

    @property
    def scheduler(self) -> SubmitScheduler:
        """Submit pacing for this account (shared with every backend on it in this process, and kept in
        the workspace so the next run knows the window too)."""
        if self._scheduler is None:
            limit = self.settings["rate_limit"]
            account = self.api.fingerprint()
            state = self.folder / f"submits-{account}.json" if self.folder else None
            self._scheduler = SubmitScheduler(int(limit["submits"]), float(limit["per"]), account=account,
                                              state_file=state)
        return self._scheduler

    @property
    def uploader(self) -> Uploader:
        self.api  # noqa: B018 - creates the uploader with the session
        assert self._uploader is not None
        return self._uploader

    @property
    def client(self) -> httpx.AsyncClient:
        return self.api.client

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()

    # --- requests ---------------------------------------------------------------------------

    async def resolve(self, job: RenderJob) -> dict[str, Any]:
        """``job.request`` with every ``sha256:`` reference replaced by its uploaded URL.

        Runs before anything is submitted, so whatever goes wrong here created no task: a provider
        that could not be reached is :class:`NotSent`, any refusal :class:`SubmitRejected`."""
        try:
            return await self._resolve(job)
        except (NotSent, SubmitRejected):
            raise
        except Transient as exc:
            raise NotSent(str(exc), code=exc.code) from None
        except BackendError as exc:
            raise SubmitRejected(str(exc), code=exc.code) from None

    async def _resolve(self, job: RenderJob) -> dict[str, Any]:
        body = dict(job.request)
        if "images" in body:
            body["images"] = [await self._url(job, ref) for ref in body["images"]]
        if body.get("video") is not None:
            body["video"] = await self._url(job, body["video"])
        return body

    async def _url(self, job: RenderJob, ref: str) -> str:
        if is_file_ref(ref):
            return await self.uploader.url_for(job.file(ref))
        if not ref.startswith("https://"):
            raise SubmitRejected(f"shot {job.shot_id}: reference {ref!r} is neither a local file nor an https:// URL.")
        return ref

    async def submit(self, job: RenderJob, *, on_status: StatusCallback | None = None,
                     on_send: SendHook | None = None) -> str:
        """POST the job once; return the task id. See the module docstring for the retry rules.

        Waits for the rate window first (``on_status("queued", "waiting for rate limit, next slot in N s")``),
        then awaits ``on_send()`` and sends. A 429 (no task) blocks the window for every submit of the
        account and raises :class:`RateLimited` with the wait, so the engine records that nothing is in
        flight and sends again once the window allows: a 429 never fails a shot."""
        body = await self.resolve(job)
        path = f"/api/v3/{job.endpoint}"
        what = f"shot {job.shot_id}: submit to {job.endpoint}"
        status = on_status or (lambda state, detail: None)
        delay = 2 * self.retry_backoff
        refused_connections = 0
        while True:
            token = await self.scheduler.acquire(
                lambda wait: status("queued", f"waiting for rate limit, next slot in {math.ceil(wait)} s"))
            if on_send is not None:
                try:
                    await on_send()
                except BaseException:
                    self.scheduler.unused(token)  # nothing was sent
                    raise
            try:
                response = await self.api.send("POST", path, json=body, timeout=self.submit_timeout)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never reached the provider: no task exists, trying again is free.
                self.scheduler.unused(token)
                refused_connections += 1
                log.warning("%s: could not connect (%s), attempt %d/%d", what, type(exc).__name__,
                            refused_connections, self.submit_attempts)
                if refused_connections >= self.submit_attempts:
                    raise NotSent(
                        f"{what}: could not connect to {self.base_url} ({type(exc).__name__}). "
                        "Nothing was submitted; check the network and run again."
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60 * self.retry_backoff)
                continue
            except httpx.TransportError as exc:
                self.scheduler.answered(token)  # it may have started a task: it counts against the window
                raise self._ambiguous(what, f"{type(exc).__name__}: {exc}") from None
            except BaseException:
                self.scheduler.answered(token)  # cancelled mid-request: it may have started a task
                raise
            if response.status_code == 429:
                # No task was created; the account's window is full. Not a strike: every submit of this
                # account waits for the window, and the engine sends this one again after it.
                pause = self.scheduler.refused(token, retry_after_seconds(response))
                log.info("%s: WaveSpeed's rate limit is reached (HTTP 429); next slot in %.1fs", what, pause)
                raise RateLimited(f"{what}: WaveSpeed's rate limit is reached (HTTP 429); nothing was submitted",
                                  retry_after=pause)
            try:
                task_id = self._task_id(what, response)
            except SubmitRejected:
                self.scheduler.unused(token)  # refused with a reason: nothing was created
                raise
            except BaseException:
                self.scheduler.answered(token)
                raise
            self.scheduler.answered(token)
            return task_id

    def _task_id(self, what: str, response: httpx.Response) -> str:
        reply = decode(response)
        if reply.ok and isinstance(reply.data, dict) and reply.data.get("id"):
            task_id = str(reply.data["id"])
            log.info("%s: task %s created", what, task_id)
            return task_id
        status = response.status_code
        if 400 <= status < 500 or (status < 300 and reply.parsed and reply.code != 200):
            # A refusal with a reason: no task was created, and the same body would be refused again.
            refusal = api_error(what, reply, self.api.scrub)
            hint = TASK_ERRORS.get(refusal.code, ("", False))[0] if isinstance(refusal.code, int) else ""
            hint = f" ({hint})" if hint else ""
            raise SubmitRejected(f"{refusal}{hint}; nothing was charged.", code=refusal.code)
        reason = f"HTTP {status}: {reply.message}" if reply.parsed else f"HTTP {status}, unreadable body"
        raise self._ambiguous(what, reason)

    def _ambiguous(self, what: str, reason: str) -> SubmitAmbiguous:
        return SubmitAmbiguous(
            f"{what}: the request was sent but no task id came back ({self.api.scrub(reason)}). A paid task may "
            "exist: reelmake looks for it in WaveSpeed's history before submitting again"
        )

    # --- waiting ----------------------------------------------------------------------------

    async def wait(self, job: RenderJob, task_id: str, on_status: StatusCallback) -> TaskOutput:
        """Poll ``task_id`` on the backoff schedule until it is terminal."""
        what = f"shot {job.shot_id}: task {task_id}"
        last = None
        for delay in poll_delays(self.poll_initial, self.poll_factor, self.poll_max):
            await asyncio.sleep(delay)
            try:
                data = await self.api.call("GET", f"/api/v3/predictions/{task_id}/result", what=what, attempts=6)
            except Transient as exc:
                # The task may still be running and billed: losing contact is not a failure of the task.
                # Keep polling; the orchestrator's per-shot timeout bounds an outage that never ends.
                log.warning("%s: polling failed (%s); still waiting", what, exc)
                on_status("running", "provider unreachable, retrying")
                continue
            except BackendError as exc:
                if exc.code == 404:
                    raise TaskLost(
                        f"{what}: WaveSpeed does not know this task (outputs and tasks are deleted after 7 days; "
                        f"or WAVESPEED_BASE_URL / the key point at another account). Rerun the shot with --force.",
                        task_id=task_id,
                        code=404,
                    ) from None
                # Refused (a revoked key, say): the task itself may still run and bill. Keep it for later.
                raise Transient(str(exc), task_id=task_id, code=exc.code) from None
            status = str((data or {}).get("status", ""))
            if status != last:
                log.info("%s: %s", what, status)
                last = status
            if status in RUNNING:
                on_status("running", status)
                continue
            if status == "completed":
                outputs = tuple(u for u in data.get("outputs") or () if isinstance(u, str))
                if not outputs:
                    raise Transient(
                        f"{what}: completed without any output URL; report it to WaveSpeed.", task_id=task_id
                    )
                return TaskOutput(task_id=task_id, urls=outputs, raw=data)
            if status in FAILED:
                raise self._task_failed(job, task_id, status, data)
            raise Transient(f"{what}: unknown status {status!r} from WaveSpeed.", task_id=task_id)
        raise AssertionError("unreachable")

    def _task_failed(self, job: RenderJob, task_id: str, status: str, data: Mapping[str, Any]) -> TaskFailed:
        error = self.api.scrub(str(data.get("error") or "no reason given"))
        code = data.get("code") or data.get("error_code")
        if not isinstance(code, int):
            found = _CODE_IN_TEXT.search(error)
            code = int(found.group(1)) if found else None
        meaning, retryable = TASK_ERRORS.get(code, ("", False)) if code is not None else ("", False)
        if code is None and status == "timeout":
            meaning, retryable = TASK_ERRORS[5004]
        if code == 1402:
            # Our cached upload URL may be what expired: the next attempt uploads afresh.
            for file in job.files.values():
                self.uploader.cache.forget(file.sha256)
        return TaskFailed(
            f"shot {job.shot_id}: WaveSpeed task {task_id} {status}: {error}" + (f" ({meaning})" if meaning else ""),
            retryable=retryable,
            task_id=task_id,
            code=code,
        )

    # --- recovery and prices -----------------------------------------------------------------

    async def reconcile(self, job: RenderJob, ambiguity: Ambiguity) -> Reconciliation:
        """The task an ambiguous submit created, found in WaveSpeed's history by model and time window
        alone (documented history items carry no inputs); see ``reconcile`` for when it adopts one."""
        return await history.reconcile(self, job, ambiguity)

    async def price(self, job: RenderJob) -> Decimal:
        """The provider's list price for ``job``, for ``--price-check``.

        ``POST /api/v3/model/price`` answers ``price``, ``discounted_price`` and ``discount_rate``; where it
        does not exist, the documented ``POST /api/v3/model/pricing`` answers ``unit_price``. The list
        price is what the catalog records; a discount is logged, never assumed (its terms are not
        documented). References are uploaded (and cached) first because the price endpoints take the
        same inputs as a submit; the uploads are reused by the render that follows.
        """
        inputs = await self.resolve(job)
        what = f"shot {job.shot_id}: price check"
        query = {"model_id": job.endpoint, "inputs": inputs}
        try:
            data = await self.api.call("POST", "/api/v3/model/price", what=what, json=query)
            field = "price"
        except BackendError as exc:
            if exc.code not in (404, 405):
                raise
            data = await self.api.call("POST", "/api/v3/model/pricing", what=what, json=query)
            field = "unit_price"
        try:
            listed = Decimal(str(data[field]))
        except (KeyError, TypeError, InvalidOperation):
            raise BackendError(f"shot {job.shot_id}: WaveSpeed's price answer has no {field}: {data!r}") from None
        discounted = data.get("discounted_price") if isinstance(data, dict) else None
        if discounted is not None and str(discounted) != str(data[field]):
            log.info("%s: list price $%s, discounted $%s (discount_rate %s)", what, listed, discounted,
                     data.get("discount_rate"))
        return listed


__all__ = ["BASE_URL_ENV", "KEY_ENV", "TASK_ERRORS", "WaveSpeedBackend"]
