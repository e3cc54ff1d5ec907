"""The review web app (Starlette): the contact sheet, its media, its data, and decisions.

Every request must carry the session's random token (``?token=…``): the server listens on 127.0.0.1
only, but other users of the machine can reach that too, and only whoever started it may approve.
Decisions go through :mod:`reelmake.engine.decisions`, the code `reelmake approve` runs.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..errors import ReelmakeError, ValidationError
from . import board as boards
from .page import render_page

RENDER_KEY = re.compile(r"[0-9a-f]{64}")  # a render key is sha256 hex: nothing else names a file here


class ReviewState:
    """The project under review, reopened when its files change (a storyboard edit, a render landing)."""

    def __init__(self, project: Any, reopen: Callable[[], Any]) -> None:
        self.project = project
        self._reopen = reopen
        self._mutex = threading.RLock()
        self._version = boards.fingerprint(project)
        self.error: str | None = None

    def current(self) -> Any:
        """The project as the files are now (the last good one while the storyboard does not validate)."""
        with self._mutex:
            version = boards.fingerprint(self.project)
            if version != self._version:
                try:
                    self.project = self._reopen()
                    self.error = None
                except ValidationError as exc:
                    self.error = "; ".join(p.format() for p in exc.errors[:5]) or str(exc)
                except ReelmakeError as exc:
                    self.error = str(exc)
                self._version = version
            return self.project

    def version(self) -> str:
        with self._mutex:
            return boards.fingerprint(self.project)


def live_links(token: str) -> boards.Links:
    query = f"?token={token}"
    return boards.Links(
        clip=lambda name, shot, take, key: f"/clip/{key}.mp4{query}",
        poster=lambda name, shot, take, key: f"/poster/{key}.jpg{query}",
        cut=lambda variant, name, suffix: f"/cut/{variant or '_'}/{name}{suffix}{query}",
    )


def create_app(state: ReviewState, token: str | None = None) -> tuple[Starlette, str]:
    """The app and its token (random unless given)."""
    token = token or secrets.token_urlsafe(24)
    links = live_links(token)

    def allowed(request: Request) -> bool:
        given = request.query_params.get("token") or request.headers.get("x-review-token") or ""
        return secrets.compare_digest(given.encode(), token.encode())

    def guarded(endpoint: Callable[[Request], Any]) -> Callable[[Request], Any]:
        def wrapper(request: Request) -> Any:
            if not allowed(request):
                return PlainTextResponse("403: this review page needs the token printed by `reelmake review`",
                                         status_code=403)
            return endpoint(request)
        return wrapper

    def data(project: Any) -> dict[str, Any]:
        content = boards.board(project, links)
        content["version"] = boards.fingerprint(project)
        content["error"] = state.error
        return content

    def index(request: Request) -> Response:
        project = state.current()
        return HTMLResponse(render_page(data(project), token=token, static=False),
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    def api_board(request: Request) -> Response:
        return JSONResponse(data(state.current()), headers={"Cache-Control": "no-store"})

    def api_version(request: Request) -> Response:
        return JSONResponse({"version": state.version()}, headers={"Cache-Control": "no-store"})

    def clip(request: Request) -> Response:
        key = request.path_params["key"]
        entry = state.current().workspace.clips.get(key) if RENDER_KEY.fullmatch(key) else None
        if entry is None:
            return PlainTextResponse("no such clip", status_code=404)
        # FileResponse answers Range requests (206), so the browser can seek without downloading it all.
        return FileResponse(entry.clip, media_type="video/mp4")

    def poster(request: Request) -> Response:
        key = request.path_params["key"]
        path = boards.poster(state.current(), key) if RENDER_KEY.fullmatch(key) else None
        if path is None:
            return PlainTextResponse("no such clip", status_code=404)
        return FileResponse(path, media_type="image/jpeg")

    def cut(request: Request) -> Response:
        variant = request.path_params["variant"]
        name, suffix = request.path_params["name"], "." + request.path_params["ext"]
        path = boards.cut_file(state.current(), "" if variant == "_" else variant, name, suffix)
        if path is None:
            return PlainTextResponse("no such cut", status_code=404)
        return FileResponse(path, media_type="video/mp4" if suffix == ".mp4" else "image/jpeg",
                            headers={"Cache-Control": "no-cache"})

    async def decide(request: Request) -> Response:
        if not allowed(request):
            return PlainTextResponse("403", status_code=403)
        try:
            body = await request.json()
            shot, action = str(body["shot"]), str(body["action"])
            take = int(body["take"])
            note = str(body.get("note") or "").strip() or None
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected {shot, take, action: approve|reject, note}"}, status_code=400)
        if action not in ("approve", "reject"):
            return JSONResponse({"error": f"unknown action {action!r}"}, status_code=400)
        from starlette.concurrency import run_in_threadpool

        def apply() -> dict[str, Any]:
            project = state.current()
            if action == "approve":
                project.approve(shot, take, note)
            else:
                project.reject(shot, take, note)
            return data(state.current())

        try:
            return JSONResponse(await run_in_threadpool(apply))
        except ReelmakeError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)

    routes = [
        Route("/", guarded(index)),
        Route("/api/board", guarded(api_board)),
        Route("/api/version", guarded(api_version)),
        Route("/api/decide", decide, methods=["POST"]),
        Route("/clip/{key}.mp4", guarded(clip)),
        Route("/poster/{key}.jpg", guarded(poster)),
        Route("/cut/{variant}/{name}.{ext}", guarded(cut)),
    ]
    return Starlette(routes=routes), token
