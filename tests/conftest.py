"""Shared fixtures: a project folder with real (tiny) reference media made by ffmpeg."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_image(path: Path, width: int = 320, height: int = 320, colour: str = "orange") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"color=c={colour}:s={width}x{height}", "-frames:v", "1", str(path))
    return path


def make_video(path: Path, seconds: float = 4, size: str = "1280x720") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r=24:d={seconds}", "-pix_fmt", "yuv420p", "-c:v", "libx264",
           "-preset", "ultrafast", str(path))
    return path


def make_audio(path: Path, seconds: float = 6, freq: int = 330) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"sine=f={freq}:d={seconds}:sample_rate=48000", "-ac", "2", str(path))
    return path


class Project:
    """A temporary project root (a git work tree) with reference media in refs/ and audio/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / ".git").mkdir(parents=True, exist_ok=True)  # marks the project root

    def write(self, text: str, name: str = "spot.yaml") -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def line_of(self, path: Path, needle: str) -> int:
        """1-based line of the first line containing ``needle`` (tests assert reported lines with it)."""
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if needle in line:
                return number
        raise AssertionError(f"{needle!r} not in {path}")


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Path:
    """Reference media made once per session, copied into each project."""
    base = tmp_path_factory.mktemp("media")
    make_image(base / "refs" / "a.png", 320, 320, "orange")
    make_image(base / "refs" / "b.png", 320, 400, "blue")
    make_image(base / "refs" / "c.png", 400, 320, "green")
    make_image(base / "refs" / "small.png", 200, 200, "red")
    for i in range(8):
        make_image(base / "refs" / f"n{i}.png", 300, 300, f"0x{i * 30:02x}4080")
    make_video(base / "refs" / "dance.mp4", 4, "1280x720")
    make_video(base / "refs" / "tiny.mp4", 2, "320x180")
    make_audio(base / "audio" / "theme.wav", 6, 330)
    make_audio(base / "audio" / "vo.wav", 2, 660)
    return base


@pytest.fixture
def project(tmp_path, media) -> Project:
    import shutil

    root = tmp_path / "proj"
    shutil.copytree(media, root)
    return Project(root)


@pytest.fixture(scope="session")
def tiny_wan(tmp_path_factory) -> Iterator[Path]:
    """A tiny random-weight Wan 2.1 VACE pipeline saved on disk (tests/tiny_wan.py), once per session."""
    reason = "needs the reelmake[local] extra (torch, diffusers)"
    torch = pytest.importorskip("torch", reason=reason)
    pytest.importorskip("diffusers", reason=reason)
    from tests.tiny_wan import build_tiny_wan

    # One intra-op thread: on a small CI box shared with ffmpeg and other tests, OpenMP threads
    # spin-waiting for each other make these tiny renders 10-20x slower (measured 0.5 s vs 7-20 s).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield build_tiny_wan(tmp_path_factory.mktemp("tiny-wan"))
    torch.set_num_threads(threads)
