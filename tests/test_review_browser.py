"""The review page in a real browser (Debian's chromium, driven by Playwright): play a take, approve one
with the keyboard and one with a click, watch a render land, and cut from what was approved."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from reelmake.engine.project import Project
from tests.review_server import ReviewProcess, rendered_project

CHROMIUM = "/usr/bin/chromium"
# As root on a machine without a network: no sandbox, and no background connections to refuse.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("REELMAKE_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("ffmpeg") is None,
                                                   reason="needs Debian's chromium (scripts/setup.sh test)")]


def test_review_in_a_browser_plays_approves_updates_and_the_cut_follows(project, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    started = time.monotonic()
    path = rendered_project(project)
    cache = project.root / ".reelmake"
    server = ReviewProcess(path, cache)
    try:
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server.url)
            one = page.locator('article.shot[data-name="one"]')
            one.wait_for()
            assert one.locator("figure.take").count() == 3

            # Play take 2 from the keyboard (1–9 pick a take and play it).
            page.keyboard.press("2")
            video = one.locator('figure.take[data-take="2"] video')
            page.wait_for_function("v => v.currentTime > 0.2", arg=video.element_handle(), timeout=15000)
            assert "picked" in one.locator('figure.take[data-take="2"]').get_attribute("class")

            # Approve it with the keyboard, with a note.
            one.locator("input.note").fill("the light is right")
            page.locator("body").click(position={"x": 5, "y": 5})  # leave the note field, keep the selection
            page.keyboard.press("a")
            page.wait_for_selector('article.shot[data-name="one"] .decision.approved >> text=approved take 2')

            # Go to the next shot with j and approve its take with a click.
            page.keyboard.press("j")
            two = page.locator('article.shot[data-name="two"]')
            assert "selected" in two.get_attribute("class")
            two.locator('figure.take[data-take="1"] button.approve').click()
            page.wait_for_selector('article.shot[data-name="two"] .decision.approved >> text=approved take 1')

            decisions = yaml.safe_load(path.with_suffix(".lock").read_text())["decisions"]
            assert (decisions["one"]["approved"], decisions["one"]["note"]) == (2, "the light is right")
            assert decisions["two"]["approved"] == 1

            # A render in another process while the page is open: the new take appears without a reload.
            subprocess.run([sys.executable, "-m", "reelmake.cli", "render", str(path), "--force", "two", "--no-cut",
                            "--cache-dir", str(cache)], check=True, capture_output=True, timeout=120)
            page.wait_for_selector('article.shot[data-name="two"] figure.take[data-take="2"] video', timeout=15000)

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.locator('article.shot[data-name="one"]').scroll_into_view_if_needed()
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
            assert errors == []
            browser.close()
    finally:
        out, _ = server.stop()
    assert out == ""

    # The next cut uses the approved takes, and its report says which.
    Project.open(path, cache_dir=cache).cut()
    report = json.loads((project.root / "out" / "spot" / "master.json").read_text())
    assert [(s["shot_id"], s["take"]) for s in report["shots"]] == [("one", 2), ("two", 1)]
    print(f"\nbrowser test: {time.monotonic() - started:.1f} s; screenshot {ARTIFACTS / 'review.png'}")
