"""`reelmake review`: a contact sheet of every shot and take in the browser, with approve and reject, or
exported as static files to send to a client.

Built on Starlette and uvicorn: a small, well-kept ASGI toolkit whose ``FileResponse`` answers HTTP
range requests (seeking in a video) and a server that runs in the same process without a build step;
templates are Jinja2, which reelmake already uses for campaigns.
"""

from __future__ import annotations

from typing import Any


def serve(project: Any, reopen: Any, *, port: int = 0, open_browser: bool = True) -> None:
    """Serve the review page on 127.0.0.1 until Ctrl-C; ``reopen()`` loads the project again after edits."""
    from .server import serve as _serve

    _serve(project, reopen, port=port, open_browser=open_browser)


def export(project: Any, directory: Any) -> Any:
    """Write a static contact sheet (``index.html``, posters, clips, cuts) into ``directory``."""
    from .export import export as _export

    return _export(project, directory)


__all__ = ["export", "serve"]
