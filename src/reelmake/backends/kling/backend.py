"""Kling's own API as a host: Omni-Video tasks named by our own ``external_task_id``.

The protocol (Kling API reference: General Information, Omni-Video; host ``https://api-singapore.klingai.com``):
- auth: a JWT (RFC 7519, HS256) signed with the secret key, ``iss`` = access key, ``exp`` = now + 1800 s,
  ``nbf`` = now − 5 s, sent as ``Authorization: Bearer <token>`` (the reference's Python sample uses PyJWT);
- every answer is ``{code, message, request_id, data}``; ``code`` 0 is success. Error codes: 1000-1004
  authentication (401), 1100-1103 account (arrears, resource pack used up, no access), 1200-1203 bad
  request (400/404), 1300/1301 platform or content policy (400), 1302/1303 rate or concurrency limit
  (429), 5000-5002 internal, unavailable, timeout (500/503/504);
- ``POST /v1/videos/omni-video`` answers ``data.task_id``; ``GET /v1/videos/omni-video/{id}`` takes the
  task id *or* the ``external_task_id`` given at creation ("choose either task_id or external_task_id for
  querying"); ``data.task_status`` is submitted | processing | succeed | failed, ``task_status_msg`` says
  why a task failed, ``task_result.videos[0].url`` is the clip (deleted after 30 days).

Money: ``external_task_id`` "must be unique within a single user account". Each submit of a job carries
``rm-<render key>-t<take>-a<attempt>`` (``attempts.py``), so an ambiguous submit (a dropped connection,
a 5xx) is resolved exactly by looking that id up, in the same run; and because the same id is reused
until a task is known to exist, a ``--resubmit`` after an ambiguity Kling could not resolve cannot
create a second task either: Kling refuses the duplicate id, and the existing task is adopted.
If the lookup itself is unavailable (Kling unreachable, 5xx), ``reconcile`` raises :class:`Transient`:
the shot stays ambiguous in the journal and the next run looks again; nothing is resubmitted.

Keys and endpoints come from the environment only: ``KLING_ACCESS_KEY`` + ``KLING_SECRET_KEY``;
``KLING_BASE_URL`` replaces the API host (tests: a loopback fake). Local reference images are sent
inline as base64 (Kling takes "Base64 encoding or image URL"); reference videos must be https URLs,
which validation enforces before anything is spent.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ...errors import (
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
from .attempts import Attempts

log = logging.getLogger("reelmake.backends.kling")

ACCESS_KEY_ENV = "KLING_ACCESS_KEY"
SECRET_KEY_ENV = "KLING_SECRET_KEY"
BASE_URL_ENV = "KLING_BASE_URL"
DEFAULT_BASE_URL = "https://api-singapore.klingai.com"
ROUTE = "/v1/videos/omni-video"
RUNNING = ("submitted", "processing")
RATE_LIMIT_CODES = (1302, 1303)
NOT_FOUND_CODES = (1202, 1203)
TOKEN_LIFETIME = 1800


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class KlingBackend(HostedBackend):
    """Renders jobs on Kling's Omni-Video API; see the module docstring for the protocol and money rules."""

    name = "kling"
    host = "Kling"
    log = log
    key_envs = (ACCESS_KEY_ENV, SECRET_KEY_ENV)

    def __init__(self, settings: Mapping[str, Any], folder: Path | None = None) -> None:
        super().__init__(settings)
        self.base_url = ((os.environ.get(BASE_URL_ENV) or "").strip() or DEFAULT_BASE_URL).rstrip("/")
        self.attempts = Attempts(Path(folder) / "attempts" if folder else None)
        self._access = self._secret = ""
        self._token: tuple[str, float] | None = None

    def __repr__(self) -> str:  # the keys must not show up in reprs
        return f"KlingBackend(base_url={self.base_url!r})"

    def preflight(self, jobs: list[RenderJob]) -> None:
        """Fail before anything is sent: missing keys or a disallowed base URL."""
        check_url(self.base_url, "Kling base URL")
        where = "https://app.klingai.com/global/dev (API keys)"
        self._access = read_key(ACCESS_KEY_ENV, where, len(jobs))
        self._secret = read_key(SECRET_KEY_ENV, where, len(jobs))

    def _headers(self) -> dict[str, str]:
        """A fresh JWT every half of its lifetime (Kling: HS256, iss = access key, exp, nbf)."""
        import jwt  # PyJWT, imported with the backend only

        now = time.time()
        if self._token is None or now > self._token[1]:
            claims = {"iss": self._access, "exp": int(now) + TOKEN_LIFETIME, "nbf": int(now) - 5}
            token = jwt.encode(claims, self._secret, algorithm="HS256", headers={"alg": "HS256", "typ": "JWT"})
            self._token = (token, now + TOKEN_LIFETIME / 2)
        return {"Authorization": f"Bearer {self._token[0]}", "Accept": "application/json"}

    def scrub(self, text: str) -> str:
        for secret in (self._secret, self._access, self._token[0] if self._token else ""):
            if secret:
                text = text.replace(secret, "[redacted]")
        return text

    # --- submit ----------------------------------------------------------------------------------

    async def resolve(self, job: RenderJob) -> dict[str, Any]:
        """``job.request`` with local images inline as base64 (Kling has no upload route)."""
        async def inline(ref: str) -> str:
            file = job.file(ref)
            if file.kind != "image":
                raise SubmitRejected(f"shot {job.shot_id}: Kling takes a reference video only as an https:// URL; "
                                     f"{file.name} is a local file.")
            try:
                data = await asyncio.to_thread(file.path.read_bytes)
            except OSError as exc:
                raise SubmitRejected(f"cannot read reference file {file.path} ({file.name}): {exc.strerror}") from None
            return base64.b64encode(data).decode("ascii")  # no data: prefix (Kling: plain Base64)

        return await replace_refs(dict(job.request), inline)

    async def submit(self, job: RenderJob, *, on_status: StatusCallback | None = None,
                     on_send: SendHook | None = None) -> str:
        """POST the job once, named by this attempt's ``external_task_id``; return Kling's task id."""
        body = await self.resolve(job)
        external = self.attempts.next_id(job)
        what = f"shot {job.shot_id}: submit to Kling ({external})"
        response = await self._post_once(what, f"{self.base_url}{ROUTE}", on_send,
                                         json={**body, "external_task_id": external})
        reply = _body(response)
        code, message = reply.get("code"), self.scrub(str(reply.get("message") or ""))
        task_id = (reply.get("data") or {}).get("task_id") if isinstance(reply.get("data"), dict) else None
        if response.status_code == 200 and code == 0 and task_id:
            self.attempts.created(job)
            log.info("%s: task %s created", what, task_id)
            return str(task_id)
        if code in RATE_LIMIT_CODES or (response.status_code == 429 and code is None):
            raise RateLimited(f"{what}: Kling's rate or concurrency limit ({code}: {message}); nothing was submitted.",
                              retry_after=retry_after_seconds(response), code=code)
        if 400 <= response.status_code < 500 and isinstance(code, int):
            if "external_task_id" in message.lower():
                return await self._adopt_duplicate(job, external, what)
            raise SubmitRejected(f"{what}: Kling refused the request (HTTP {response.status_code}, code {code}: "
                                 f"{message}); no task was created.", code=code)
        raise self._ambiguous(what, f"HTTP {response.status_code}" + (f", code {code}" if code is not None else ""))

    async def _adopt_duplicate(self, job: RenderJob, external: str, what: str) -> str:
        """Kling refused our id as already used: an earlier submit did create the task. Adopt it, unless it
        is over, in which case the id is spent and the next attempt (a new id) may be sent."""
        found = await self._lookup(job, external)
        if found is None:
            raise SubmitRejected(f"{what}: Kling says the external_task_id is taken but cannot find it; no task was "
                                 "created by this submit.")
        task_id, status = found
        self.attempts.created(job)
        if status == "failed":
            raise NotSent(f"{what}: the earlier task {task_id} with this id failed; a new attempt will be sent.")
        log.warning("%s: Kling already has task %s for this id; resuming it instead of paying again", what, task_id)
        return task_id

    def _ambiguous(self, what: str, reason: str) -> SubmitAmbiguous:
        return SubmitAmbiguous(f"{what}: the request was sent but no task id came back ({reason}); reelmake looks the "
                               "task up by its external_task_id before anything is sent again.")

    # --- lookups and waiting -----------------------------------------------------------------------

    async def _lookup(self, job: RenderJob, task_ref: str) -> tuple[str, str] | None:
        """(task id, status) of the task called ``task_ref`` (a task id or our external_task_id), None when
        Kling says there is no such task. Transient when Kling cannot be asked."""
        what = f"shot {job.shot_id}: Kling lookup of {task_ref}"
        response = await self._get(what, f"{self.base_url}{ROUTE}/{task_ref}")
        reply = _body(response)
        code = reply.get("code")
        data = reply.get("data") if isinstance(reply.get("data"), dict) else None
        if response.status_code == 200 and code == 0 and data and data.get("task_id"):
            return str(data["task_id"]), str(data.get("task_status", ""))
        if response.status_code == 404 or code in NOT_FOUND_CODES:
            return None
        raise Transient(f"{what}: unusable answer (HTTP {response.status_code}, code {code}); the shot stays "
                        "ambiguous and the next run looks again.", code=code)

    async def reconcile(self, job: RenderJob, ambiguity: Ambiguity) -> Reconciliation:
        """The task an ambiguous submit created, found by the external_task_id it carried; None when Kling
        has no task by that id. Raises Transient when the lookup itself is unavailable."""
        external = self.attempts.current_id(job)
        if external is None:
            return Reconciliation()  # this job was never sent from this workspace
        try:
            found = await self._lookup(job, external)
        except Transient as exc:
            raise Transient(f"{exc} The submit may have created task {external}: the shot stays ambiguous, nothing "
                            "is sent again, and the next run looks again.", code=exc.code) from None
        if found is None:
            log.info("shot %s: Kling has no task %s: the ambiguous submit created nothing", job.shot_id, external)
            return Reconciliation()
        self.attempts.created(job)
        return Reconciliation(task_id=found[0])

    async def wait(self, job: RenderJob, task_id: str, on_status: StatusCallback) -> TaskOutput:
        """Poll the task until it succeeds or fails."""
        what = f"shot {job.shot_id}: Kling task {task_id}"
        async for response in self._polls(what, f"{self.base_url}{ROUTE}/{task_id}", on_status):
            reply = _body(response)
            code = reply.get("code")
            data = reply.get("data") if isinstance(reply.get("data"), dict) else {}
            if response.status_code == 404 or code in NOT_FOUND_CODES:
                raise TaskLost(f"{what}: Kling does not know this task (or the keys / KLING_BASE_URL belong to another "
                               "account). Rerun the shot with --force.", task_id=task_id, code=code)
            if response.status_code != 200 or code != 0:
                raise Transient(f"{what}: query refused (HTTP {response.status_code}, code {code}); the task is kept "
                                "and the next run resumes it.", task_id=task_id, code=code)
            status = str(data.get("task_status", ""))
            if status in RUNNING:
                on_status("running", status)
                continue
            if status == "succeed":
                videos = (data.get("task_result") or {}).get("videos") or []
                urls = tuple(str(v["url"]) for v in videos if isinstance(v, dict) and v.get("url"))
                if not urls:
                    raise Transient(f"{what}: succeeded without a video URL; report it to Kling.", task_id=task_id)
                return TaskOutput(task_id=task_id, urls=urls, raw=data)
            if status == "failed":
                reason = self.scrub(str(data.get("task_status_msg") or "no reason given"))
                # Kling does not say which failures a new task would survive: never resend on our own.
                raise TaskFailed(f"{what} failed: {reason}", task_id=task_id)
            raise Transient(f"{what}: unknown status {status!r} from Kling.", task_id=task_id)
        raise AssertionError("unreachable")


__all__ = ["ACCESS_KEY_ENV", "BASE_URL_ENV", "SECRET_KEY_ENV", "KlingBackend"]
