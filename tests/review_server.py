"""A real `reelmake review` process for tests: started on a free port, its one stdout line read, stopped."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from reelmake.engine.api import render

LINE = re.compile(r"review: (http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+))\n")

STORYBOARD = """
reelmake: 1
title: Review test
defaults: {backend: animatic, duration: 1}
shots:
  - {id: one, prompt: a city at dawn, takes: 3, caption: First light.}
  - {id: two, prompt: a runner laces up}
deliverables:
  - {name: master, size: 320x180, fps: 12}
"""


def rendered_project(project) -> Path:
    """A storyboard with three takes of one shot, rendered (animatic) and cut."""
    path = project.write(STORYBOARD)
    summary = render(path, cache_dir=project.root / ".reelmake")
    assert summary.ok, summary.to_json()
    return path


class ReviewProcess:
    def __init__(self, path: Path, cache: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "reelmake.cli", "review", str(path), "--no-browser",
                                      "--cache-dir", str(cache), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.first_line = self._read_line(30)
        match = LINE.fullmatch(self.first_line)
        assert match, f"unexpected first line {self.first_line!r}; stderr: {self.stop()[1]}"
        self.url, self.port, self.token = match[1], int(match[2]), match[3]
        self.base = f"http://127.0.0.1:{self.port}"

    def _read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        chooser = selectors.DefaultSelector()
        chooser.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if chooser.select(0.2):
                return self.proc.stdout.readline()
            if self.proc.poll() is not None:
                break
        return ""

    def stop(self) -> tuple[str, str]:
        """Ctrl-C, as a user stops it; what it printed after its first line (stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out, err
