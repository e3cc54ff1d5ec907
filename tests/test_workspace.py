"""The workspace owns .reelmake/: its layout, its migration from reelmake 0.1, and garbage collection."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.engine.api import gc, render
from reelmake.engine.workspace import GRACE, LAYOUT, Workspace, project_locks
from reelmake.errors import StoryboardError
from reelmake.fsutil import scratch_dir

TWO_SHOTS = """
reelmake: 1
title: Workspace
defaults: {backend: animatic, duration: 1}
shots:
  - {id: one, prompt: "first"}
  - {id: two, prompt: "second"}
deliverables:
  - {name: master, size: 320x180, fps: 12}
"""


def _age(path: Path, days: float) -> None:
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp))


def _rendered(project) -> tuple[Path, Workspace]:
    path = project.write(TWO_SHOTS)
    summary = render(path)
    assert summary.ok, summary.to_json()
    return path, Workspace(project.root / ".reelmake")


def test_a_new_workspace_gets_the_current_layout_and_nothing_is_written_before_a_render(project):
    path = project.write(TWO_SHOTS.replace("prompt: \"first\"", "promt: \"first\""))
    assert CliRunner().invoke(main, ["plan", str(path)]).exit_code == 1
    assert not (project.root / ".reelmake").exists()  # bad input changes nothing on disk
    _, workspace = _rendered(project)
    assert json.loads((workspace.root / "layout.json").read_text()) == {"layout": LAYOUT}
    assert {p.name for p in workspace.root.iterdir()} >= {"clips", "layout.json"}


def test_a_reelmake_0_1_workspace_is_migrated(tmp_path):
    root = tmp_path / ".reelmake"
    (root / "uploads").mkdir(parents=True)
    (root / "uploads" / "abc-123.json").write_text("{}")
    (root / "hashes.json").write_text("{}")
    (root / "clips").mkdir()
    Workspace(root)
    assert (root / "backends" / "wavespeed" / "uploads" / "abc-123.json").exists()
    assert not (root / "uploads").exists() and not (root / "hashes.json").exists()
    assert json.loads((root / "layout.json").read_text())["layout"] == LAYOUT


def test_a_workspace_from_a_newer_reelmake_is_refused_not_rewritten(tmp_path):
    root = tmp_path / ".reelmake"
    root.mkdir()
    (root / "layout.json").write_text(json.dumps({"layout": LAYOUT + 1}))
    with pytest.raises(StoryboardError, match="newer reelmake"):
        Workspace(root)
    assert json.loads((root / "layout.json").read_text())["layout"] == LAYOUT + 1


def test_a_workspace_path_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / ".reelmake").write_text("oops")
    with pytest.raises(StoryboardError, match="is a file"):
        Workspace(tmp_path / ".reelmake")


@pytest.mark.slow
def test_gc_keeps_what_a_lock_references_and_removes_old_unreferenced_clips(project):
    path, workspace = _rendered(project)
    keys = sorted(workspace.clips.keys())
    assert len(keys) == 2
    # The storyboard drops shot two: its entry moves to the lock's history, which keeps its clip for the
    # grace period; after that both the history entry and the clip go.
    path.write_text(TWO_SHOTS.replace('  - {id: two, prompt: "second"}\n', ""))
    assert render(path).ok
    lock = project.root / "spot.lock"
    gone = next(k for k in keys if f"key: {k}" not in lock.read_text().split("history:")[0])
    young = gc(project.root, dry_run=True)
    assert young.removed == [] and young.kept == 2  # the history still references it
    for file in (workspace.clips.clip_path(gone), workspace.clips.meta_path(gone)):
        _age(file, 8)
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 8 * 86400))
    lock.write_text(re.sub(r"superseded_at: '?[0-9T:Z-]+'?", f"superseded_at: '{old}'", lock.read_text()))
    dry = gc(project.root, dry_run=True)
    assert [p for p, _ in dry.removed] == [f"clips/{gone[:2]}/{gone}"] and dry.freed > 0
    assert workspace.clips.has(gone)  # a dry run removes nothing
    done = gc(project.root)
    assert not workspace.clips.has(gone) and len(list(workspace.clips.keys())) == 1 and done.freed == dry.freed
    assert gone not in lock.read_text()  # its history entry went with it


def test_gc_never_removes_the_clip_of_a_task_in_flight(project):
    path, workspace = _rendered(project)
    (project.root / "spot.lock").unlink()  # nothing references the clips any more …
    key = next(iter(workspace.clips.keys()))
    workspace.journal.record("intent", key, job="one", backend="x", model="y")  # … but one is in flight
    for file in workspace.clips.root.rglob("*"):
        if file.is_file():
            _age(file, 30)
    report = gc(project.root)
    assert workspace.clips.has(key) and report.kept == 1 and len(report.removed) == 1


def test_gc_stops_before_removing_anything_when_a_lock_cannot_be_read(project):
    path, workspace = _rendered(project)
    (project.root / "other.lock").write_text("# reelmake lock: broken\nshots: [unclosed\n")
    for file in workspace.clips.root.rglob("*"):
        _age(file, 30)
    with pytest.raises(StoryboardError, match="gc stops"):
        gc(project.root)
    assert len(list(workspace.clips.keys())) == 2


def test_gc_cleans_old_temporary_files_and_expired_upload_records(project):
    _, workspace = _rendered(project)
    stale = workspace.tmp_dir() / "killed-run.part.mp4"
    stale.write_bytes(b"half a clip")
    _age(stale, 8)
    record = workspace.backend_dir("wavespeed") / "uploads" / "old.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"url": "https://x", "expires_at": time.time() - 60}))
    report = gc(project.root)
    removed = {p for p, _ in report.removed}
    assert "tmp/killed-run.part.mp4" in removed and "backends/wavespeed/uploads/old.json" in removed


def test_project_locks_finds_reelmake_locks_only(project):
    project.write("# reelmake lock: …\nreelmake: 1\nshots: {}\n", "a.lock")
    project.write("[[package]]\nname = 'poetry'\n", "poetry.lock")
    (project.root / "out").mkdir()
    project.write("# reelmake lock\n", "out/ignored.lock")
    assert [p.name for p in project_locks(project.root)] == ["a.lock"]


def test_the_gc_command_reports_what_it_would_remove(project):
    _rendered(project)
    result = CliRunner().invoke(main, ["gc", str(project.root), "--dry-run"])
    assert result.exit_code == 0 and "would remove 0 file(s)" in result.output and "kept 2 clip(s)" in result.output
    assert GRACE == 7 * 86400


def test_the_next_run_removes_the_scratch_of_a_killed_cut_and_keeps_a_live_ones(project):
    path, workspace = _rendered(project)
    scratch = workspace.edit_dir / "tmp"
    killed = subprocess.run([sys.executable, "-c", (
        "import os, sys\nfrom pathlib import Path\nfrom reelmake.fsutil import scratch_dir\n"
        "with scratch_dir(Path(sys.argv[1]), 'cut') as d:\n"
        "    (d / 'mix.wav').write_bytes(bytes(1000))\n    print(d, flush=True)\n    os._exit(9)\n"),
        str(scratch)], capture_output=True, text=True)
    left = Path(killed.stdout.strip())
    assert killed.returncode == 9 and (left / "mix.wav").is_file()
    with scratch_dir(scratch, "cut") as live:
        render(path)
        assert not left.exists() and live.is_dir()


def test_compaction_keeps_the_task_ids_around_a_submit_still_to_reconcile(tmp_path):
    from reelmake.engine.journal import Journal

    day = 86400.0
    now = time.time()
    lines = [
        # Ten days ago: a submit whose answer was lost, and a rival's task sent a minute later and done.
        {"event": "intent", "key": "lost", "at": now - 10 * day},
        {"event": "ambiguous", "key": "lost", "at": now - 10 * day + 5},
        {"event": "submitted", "key": "rival", "at": now - 10 * day + 60, "task_id": "t-rival"},
        {"event": "done", "key": "rival", "at": now - 10 * day + 90, "task_id": "t-rival"},
        # Twenty days ago, long before: nothing to reconcile against it.
        {"event": "submitted", "key": "old", "at": now - 20 * day, "task_id": "t-old"},
        {"event": "done", "key": "old", "at": now - 20 * day + 30, "task_id": "t-old"},
    ]
    path = tmp_path / "journal.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    journal = Journal(path)
    assert journal.compact(now - 7 * day) == 2  # only "old" goes
    assert journal.task_ids() == {"t-rival"} and journal.state("lost").status == "ambiguous"
