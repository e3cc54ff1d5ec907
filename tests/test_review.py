"""`reelmake review` over HTTP (a real server process) and its static export."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from reelmake.engine.project import Project
from tests.review_server import ReviewProcess, rendered_project

pytestmark = pytest.mark.slow


@pytest.fixture
def storyboard(project):
    return rendered_project(project)


def test_the_server_prints_one_line_needs_its_token_and_serves_ranges(project, storyboard):
    server = ReviewProcess(storyboard, project.root / ".reelmake")
    try:
        assert httpx.get(server.base + "/").status_code == 403
        assert httpx.get(server.base + "/api/board?token=wrong").status_code == 403
        assert httpx.post(server.base + "/api/decide", json={"shot": "one", "take": 1, "action": "approve"}
                          ).status_code == 403
        page = httpx.get(server.url)
        assert page.status_code == 200 and "Review test" in page.text
        board = httpx.get(f"{server.base}/api/board?token={server.token}").json()
        one = board["shots"][0]
        assert (one["name"], [t["take"] for t in one["takes"]], one["in_cut"]) == ("one", [1, 2, 3], 3)
        assert one["prompt"].startswith("a city at dawn") and one["model"] == "animatic" and one["cost"] == "0.000"
        clip = server.base + one["takes"][1]["clip"]
        whole = httpx.get(clip)
        part = httpx.get(clip, headers={"Range": "bytes=100-299"})
        assert part.status_code == 206 and part.content == whole.content[100:300]
        assert part.headers["content-range"] == f"bytes 100-299/{len(whole.content)}"
        poster = httpx.get(server.base + one["takes"][1]["poster"])
        assert poster.status_code == 200 and poster.content[:2] == b"\xff\xd8"  # a JPEG
        assert httpx.get(server.base + board["cuts"][0]["video"]).status_code == 200
        decided = httpx.post(server.base + "/api/decide", headers={"X-Review-Token": server.token},
                             json={"shot": "one", "take": 2, "action": "approve", "note": "from the page"})
        assert decided.status_code == 200 and decided.json()["shots"][0]["approval"]["approved"] == 2
        refused = httpx.post(server.base + "/api/decide", headers={"X-Review-Token": server.token},
                             json={"shot": "one", "take": 9, "action": "approve"})
        assert refused.status_code == 409 and "no rendered take 9" in refused.json()["error"]
    finally:
        out, _ = server.stop()
    assert out == ""  # exactly one line on stdout
    assert Project.open(storyboard, cache_dir=project.root / ".reelmake").lock.decisions["one"]["note"] == \
        "from the page"


def test_a_busy_port_is_a_clear_error(project, storyboard):
    server = ReviewProcess(storyboard, project.root / ".reelmake")
    try:
        from click.testing import CliRunner

        from reelmake.cli import main

        result = CliRunner().invoke(main, ["review", str(storyboard), "--no-browser", "--port", str(server.port),
                                           "--cache-dir", str(project.root / ".reelmake")])
        assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{server.port}" in result.output
    finally:
        server.stop()


def test_export_writes_a_self_contained_contact_sheet(project, storyboard, tmp_path):
    from click.testing import CliRunner

    from reelmake.cli import main

    target = tmp_path / "sheet"
    result = CliRunner().invoke(main, ["review", str(storyboard), "--export", str(target),
                                       "--cache-dir", str(project.root / ".reelmake")])
    assert result.exit_code == 0, result.output
    html = (target / "index.html").read_text()
    board = json.loads(re.search(r'<script id="board" type="application/json">(.*?)</script>', html, re.S)[1])
    paths = [t[k] for s in board["shots"] for t in s["takes"] for k in ("clip", "poster")]
    paths += [c[k] for c in board["cuts"] for k in ("video", "poster")]
    assert "clips/one-take2.mp4" in paths and "cuts/master.mp4" in paths
    for relative in paths:
        assert not relative.startswith(("/", "http")) and (target / relative).is_file(), relative
    assert 'const TOKEN = "";' in html and "const STATIC = true;" in html  # no secret, no server to call
    assert "127.0.0.1" not in html
