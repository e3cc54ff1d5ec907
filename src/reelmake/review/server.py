"""Serving the review app on 127.0.0.1 with uvicorn, in this process, until Ctrl-C."""

from __future__ import annotations

import socket
import sys
import threading
import webbrowser
from collections.abc import Callable
from typing import Any

import uvicorn

from .app import ReviewState, create_app


class _Server(uvicorn.Server):
    """uvicorn, announcing the page's address once it listens (and after anything uvicorn prints)."""

    def __init__(self, config: uvicorn.Config, url: str, open_browser: bool) -> None:
        super().__init__(config)
        self.url, self.open_browser = url, open_browser

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.started:
            return
        # The one line on stdout, which scripts (and tests) read to find the page.
        sys.stdout.write(f"review: {self.url}\n")
        sys.stdout.flush()
        if self.open_browser:
            threading.Thread(target=webbrowser.open, args=(self.url,), daemon=True).start()


def listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` 0: a free one, chosen by the kernel)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        from ..errors import ReelmakeError

        raise ReelmakeError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); choose another --port, or 0 for "
                            "a free one") from None
    sock.listen(128)
    return sock


def serve(project: Any, reopen: Callable[[], Any], *, port: int = 0, open_browser: bool = True) -> None:
    """Serve the review page for ``project`` until interrupted; ``reopen`` loads it again after edits."""
    sock = listen(port)
    app, token = create_app(ReviewState(project, reopen))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/?token={token}"
    # No logging config of uvicorn's own (it would print access lines on stdout); errors still reach
    # stderr through reelmake's logging.
    config = uvicorn.Config(app, log_config=None, access_log=False, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=2)
    _Server(config, url, open_browser).run(sockets=[sock])
