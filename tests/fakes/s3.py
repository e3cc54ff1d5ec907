"""A real S3-protocol server on loopback for the remote-store tests: moto's standalone server (installed by
the test extra), run as its own process so it answers while the code under test blocks, and so one
can be started that enforces authentication.

It speaks S3's REST protocol over HTTP, including conditional writes (``If-None-Match: *`` answered
412 PreconditionFailed when the key exists, ``If-Match``) that claims rely on. Clients reach it as
they would reach any S3-compatible endpoint: ``AWS_ENDPOINT_URL`` plus credentials in the environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """``python -m moto.server`` on a free loopback port; ``auth=True`` refuses every key it does not know
    (moto's INITIAL_NO_AUTH_ACTION_COUNT=0: no IAM user exists, so every request is 403)."""

    def __init__(self, *, auth: bool = False) -> None:
        self.port = _free_port()
        env = {**os.environ, **CREDENTIALS}
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.05)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, **CREDENTIALS}

    def filesystem(self) -> Any:
        """An s3fs client of this server, for tests to inspect and damage the bucket as a person could."""
        import s3fs

        return s3fs.S3FileSystem(key=CREDENTIALS["AWS_ACCESS_KEY_ID"], secret=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                                 endpoint_url=self.endpoint, skip_instance_cache=True, use_listings_cache=False)

    def bucket(self) -> str:
        name = f"team-{uuid.uuid4().hex[:10]}"
        self.filesystem().mkdir(name)
        return name

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="session")
def s3_server():
    server = MotoServer()
    yield server
    server.close()


@pytest.fixture
def s3(s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The session's S3 server, with this test's environment pointing at it (as a user's would)."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server
