"""Hostile and careless input: every case ends with a clear, located message (or success), never a
traceback, and bad input changes nothing on disk.

Table-driven by category: the YAML itself, numbers, paths and media, the storyboard file, endpoints,
options, campaigns, and state found on disk.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reelmake.cli import main

GOOD = """\
reelmake: 1
title: Hostile
defaults: {backend: animatic, duration: 1}
characters:
  maya: {images: [refs/a.png]}
assets:
  theme: {audio: audio/theme.wav}
shots:
  - {id: one, prompt: "@maya runs"}
  - {id: two, prompt: "@maya jumps"}
deliverables:
  - {name: master, size: 320x180, fps: 12}
"""


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def located_error(result: Result, line: int | None = None, fragment: str = "") -> None:
    """Exit 1 with a FILE:LINE:COL: error line (at ``line`` when given) containing ``fragment``."""
    no_traceback(result)
    assert result.exit_code == 1, result.output
    errors = [text for text in result.output.splitlines() if ": error: " in text]
    assert errors, result.output
    if line is not None:
        assert any(f":{line}:" in text.split(": error: ")[0] for text in errors), result.output
    if fragment:
        assert any(fragment in text for text in errors), result.output


def write(project, text: str, name: str = "spot.yaml") -> Path:
    path = project.root / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the YAML itself ----------------------------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))

YAML_CASES = {
    "alias bomb": (BOMB, None, "expands to more than"),
    "recursive alias": (GOOD.replace("shots:\n", "loop: &l [*l]\nshots:\n"), None, "refers to the value that"),
    "nested 2000 deep": ("reelmake: 1\ntitle: " + "[" * 2000 + "]" * 2000 + "\n", 2, "YAML syntax error"),
    "merge of a number": (GOOD.replace("title: Hostile", "title: Hostile\n<<: 5"), 3, "`<<` merges a mapping"),
    "an unknown tag": (GOOD.replace("title: Hostile", "title: !foo Hostile"), 2, "tag '!foo'"),
    "a python tag": (GOOD.replace("title: Hostile", "title: !!python/name:os.system x"), 2, "not supported"),
    "a python object": (GOOD.replace("title: Hostile", "title: !!python/object/apply:os.system [ls]"), 2,
                        "not supported"),
    "a list, not a mapping": ("- reelmake: 1\n", 1, "a storyboard is a YAML mapping"),
    "a scalar": ("hello\n", 1, "a storyboard is a YAML mapping"),
    "empty": ("", 1, "empty"),
    "only a comment": ("# nothing\n", 1, "empty"),
    "a duplicate key": (GOOD.replace("title: Hostile", "title: Hostile\ntitle: Again"), 3, "duplicate key"),
    "a tab in indentation": (GOOD.replace("  - {id: one", "\t- {id: one"), None, "YAML syntax error"),
    "an unclosed quote": (GOOD.replace('"@maya runs"', '"@maya runs'), None, "YAML syntax error"),
    "a complex key": (GOOD.replace("title: Hostile", "title: Hostile\n? [a, b]\n: c"), 3, "plain scalars"),
}


@pytest.mark.parametrize("name", sorted(YAML_CASES))
def test_broken_yaml_is_a_located_error(project, name):
    text, line, fragment = YAML_CASES[name]
    path = write(project, text)
    located_error(cli("validate", str(path)), line, fragment)
    assert not (project.root / ".reelmake").exists()


def test_a_legal_merge_override_is_not_a_duplicate_key(project):
    text = GOOD.replace("shots:\n", "base: &base {prompt: '@maya walks', duration: 1}\nshots:\n")
    text = text.replace("x-unused", "")
    path = write(project, text.replace("base: &base", "x-base: &base"))
    located_error(cli("validate", str(path)), None, "unknown key 'x-base'")  # the anchor host is still a key
    merged = GOOD.replace("  - {id: two, prompt: \"@maya jumps\"}",
                          "  - &two {id: two, prompt: \"@maya jumps\", duration: 2}\n  - {<<: *two, id: three, "
                          "duration: 1}")
    result = cli("validate", str(write(project, merged)))
    no_traceback(result)
    assert result.exit_code == 0, result.output


# -- numbers ------------------------------------------------------------------------------------

NUMBER_CASES = {
    "budget .nan": ("title: Hostile", "title: Hostile\nbudget: .nan", "not a number"),
    "budget .inf": ("title: Hostile", "title: Hostile\nbudget: .inf", "not a number"),
    "fps .nan": ("fps: 12}", "fps: .nan}", "not a number"),
    "duration -.inf": ("duration: 1}", "duration: -.inf}", "not a number"),
    "transition .nan": ('{id: two, prompt: "@maya jumps"}',
                        '{id: two, prompt: "@maya jumps", transition: {type: fade, duration: .nan}}', "not a number"),
    "volume .nan": ("shots:", "soundtrack:\n  - {asset: theme, volume: .nan}\nshots:", "not a number"),
    "loudness .nan": ("shots:", "mix: {loudness: .nan}\nshots:", "not a number"),
    "true peak .inf": ("shots:", "mix: {true_peak: .inf}\nshots:", "not a number"),
    "segment .nan": ('{id: two, prompt: "@maya jumps"}',
                     '{id: two, prompt: "@maya jumps", multi_prompt: [{prompt: a, duration: .nan}]}', "not a number"),
    "a giant size": ("size: 320x180", "size: 99999998x99999998", "16 to 8192 pixels"),
    "a zero size": ("size: 320x180", "size: 0x0", "expected text"),  # YAML 1.1 reads 0x0 as a hex number
    "a zero width": ("size: 320x180", 'size: "0x180"', "is not a size"),
    "a negative duration": ("duration: 1}", "duration: -1}", "out of range"),
    "a duration of 1e308": ("duration: 1}", "duration: 1.0e+308}", "renders"),
}


@pytest.mark.parametrize("name", sorted(NUMBER_CASES))
def test_numbers_that_are_not_usable_are_located_errors(project, media, name):
    old, new, fragment = NUMBER_CASES[name]
    assert old in GOOD
    path = write(project, GOOD.replace(old, new))
    located_error(cli("validate", "--no-media", str(path)), None, fragment)


# -- paths and media ----------------------------------------------------------------------------

def _playlist(project, name: str) -> str:
    secret = project.root.parent / "secret.txt"
    secret.write_text("TOP SECRET")
    (project.root / name).write_text(f"#EXTM3U\n#EXTINF:1,\n{secret}\n")
    return name


PATH_CASES = {
    "an absolute path": lambda p: "/etc/hostname",
    "a .. escape": lambda p: "../../etc/hostname.png",
    "a home path": lambda p: "~/.ssh/id_rsa.png",
    "a NUL byte": lambda p: "refs/a\x00.png",
    "a 300-character name": lambda p: "refs/" + "x" * 300 + ".png",
    "a missing file": lambda p: "refs/nope.png",
    "a directory": lambda p: (p.root / "refs" / "dir.png").mkdir() or "refs/dir.png",
    "a symlink out of the project": lambda p: (p.root / "refs" / "out.png").symlink_to("/etc/hostname") or
    "refs/out.png",
    "a symlink loop": lambda p: ((p.root / "refs" / "l1.png").symlink_to(p.root / "refs" / "l2.png"),
                                 (p.root / "refs" / "l2.png").symlink_to(p.root / "refs" / "l1.png"))
    and "refs/l1.png",
    "a text file named .png": lambda p: (p.root / "refs" / "note.png").write_text("hello") and "refs/note.png",
    "a playlist named .png": lambda p: _playlist(p, "refs/list.png"),
    "an unknown extension": lambda p: "refs/a.exe",
    "an https URL without a host": lambda p: "https:///etc/passwd",
    "a plain http URL": lambda p: "http://example.com/a.png",
    "a file URL": lambda p: "file:///etc/passwd",
}


@pytest.mark.parametrize("name", sorted(PATH_CASES))
def test_references_that_point_where_they_should_not_are_located_errors(project, name):
    source = PATH_CASES[name](project)
    text = GOOD.replace("images: [refs/a.png]", f"images: [{json.dumps(source)}]")
    located_error(cli("validate", str(write(project, text))), 5)


def test_a_playlist_disguised_as_a_video_or_a_bed_is_refused(project):
    _playlist(project, "refs/clip.mp4")
    _playlist(project, "audio/bed.m4a")
    text = GOOD.replace("theme: {audio: audio/theme.wav}", "theme: {audio: audio/bed.m4a}\n  clip: {video: refs/clip.mp4}")
    result = cli("validate", str(write(project, text)))
    located_error(result, 7)
    located_error(result, 8)
    assert "SECRET" not in result.output


def test_a_pattern_like_file_name_is_read_as_the_file_it_names(project):
    (project.root / "refs" / "shot%03d.png").write_bytes((project.root / "refs" / "a.png").read_bytes())
    result = cli("validate", str(write(project, GOOD.replace("refs/a.png", "refs/shot%03d.png"))))
    no_traceback(result)
    assert result.exit_code == 0, result.output


# -- the storyboard file itself -------------------------------------------------------------------

def test_a_storyboard_linked_to_a_secret_is_not_read(project):
    (project.root / "spot.yaml").symlink_to("/etc/passwd")
    result = cli("validate", str(project.root / "spot.yaml"))
    located_error(result, 1, "outside the project")
    assert "root" not in result.output.split("error:", 1)[1].split("outside")[0]


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_a_storyboard_that_is_a_device_or_a_pipe_is_refused(project, target):
    path = project.root / "spot.yaml"
    if target == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(target)
    located_error(cli("validate", str(path)), 1)


def test_a_storyboard_that_is_not_utf8_or_too_large_is_refused(project):
    binary = project.root / "bin.yaml"
    binary.write_bytes(b"title: \xff\xfe\x00 binary")
    located_error(cli("validate", str(binary)), 1, "not UTF-8")
    huge = project.root / "huge.yaml"
    huge.write_bytes(b"# " + b"x" * (9 << 20))
    located_error(cli("validate", str(huge)), 1, "larger than")


def test_yaml_and_yml_side_by_side_would_share_a_lock(project):
    write(project, GOOD, "a.yaml")
    located_error(cli("validate", str(write(project, GOOD, "a.yml"))), 1, "a.lock")


# -- endpoints and keys --------------------------------------------------------------------------

def test_a_storyboard_cannot_choose_where_the_api_key_goes(project):
    text = GOOD.replace("deliverables:", "backends:\n  wavespeed: {base_url: 'https://attacker.example'}\n"
                                        "deliverables:")
    located_error(cli("validate", str(write(project, text))), None, "WAVESPEED_BASE_URL")


def test_a_csv_cell_cannot_inject_a_backends_block(tmp_path):
    from tests.test_campaign import make

    template = ("reelmake: 1\ntitle: t\ndefaults: {backend: wavespeed, duration: 5}\nshots:\n"
                "  - id: a\n    prompt: p\n    caption: {{ caption | yaml }}\n")
    campaign = ("reelmake: 1\ncampaign: c\ntemplate: spot.yaml.j2\nvariants:\n  name: '{{ m }}'\n"
                "  table: variants.csv\n")
    cell = '"x\nbackends:\n  wavespeed: {base_url: https://attacker.example}"'
    path = make(tmp_path / "c", campaign, template, variants_dot_csv=f"m,caption\nus,{cell}\n")
    result = cli("validate", "--no-media", str(path))
    no_traceback(result)
    assert result.exit_code == 0 and "attacker" not in result.output, result.output  # a caption, nothing more


@pytest.mark.parametrize("key", ["abc\nX-Injected: 1", "clé-secrète", "two words", ""])
def test_a_malformed_key_is_refused_without_echoing_it(project, key, monkeypatch):
    path = write(project, GOOD.replace("backend: animatic", "backend: wavespeed, model: kling-video-o3-std")
                 .replace("duration: 1}", "duration: 3}"))
    monkeypatch.setenv("WAVESPEED_API_KEY", key)
    monkeypatch.setenv("WAVESPEED_BASE_URL", "http://127.0.0.1:9")
    result = cli("render", str(path), "--yes", "--no-cut")
    no_traceback(result)
    assert result.exit_code == 1 and "WAVESPEED_API_KEY" in result.output
    if key:
        assert key not in result.output and "Injected" not in result.output


# -- options --------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--max-cost", "nan"], ["--max-cost", "-0"], ["--max-cost", "-1"], ["--max-cost", "abc"], ["--max-cost", "inf"],
    ["--timeout", "-1"], ["--timeout", "nan"], ["--timeout", "0"], ["--jobs", "0"],
])
def test_option_values_that_make_no_sense_are_refused(project, args):
    result = cli("render", str(write(project, GOOD)), *args)
    no_traceback(result)
    assert result.exit_code == 2 and "Invalid value" in result.output


def test_variant_on_a_storyboard_is_an_error_not_a_crash(project):
    result = cli("plan", str(write(project, GOOD)), "--variant", "us")
    located_error(result, 1, "--variant")


# -- campaigns ------------------------------------------------------------------------------------

def test_a_matrix_of_millions_of_variants_is_refused_at_once(tmp_path):
    from tests.test_campaign import make

    values = "[" + ", ".join(str(i) for i in range(100)) + "]"
    campaign = (f"reelmake: 1\ncampaign: c\ntemplate: spot.yaml.j2\nvariants:\n  name: '{{{{ a }}}}-{{{{ b }}}}-{{{{ c }}}}'\n"
                f"  matrix: {{a: {values}, b: {values}, c: {values}}}\n")
    located_error(cli("validate", str(make(tmp_path / "c", campaign, "reelmake: 1\n"))), None, "1,000,000")


def test_an_unterminated_quote_in_the_table_is_an_error(tmp_path):
    from tests.test_campaign import make

    campaign = "reelmake: 1\ncampaign: c\ntemplate: spot.yaml.j2\nvariants:\n  name: '{{ m }}'\n  table: v.csv\n"
    path = make(tmp_path / "c", campaign, "reelmake: 1\n", v_dot_csv='m,t\nus,"open\nde,x\n')
    located_error(cli("validate", str(path)), None, "not valid CSV")


def test_an_endless_template_loop_is_stopped(tmp_path, monkeypatch):
    from reelmake.campaign import template
    from tests.test_campaign import make

    monkeypatch.setattr(template, "MAX_SECONDS", 0.5)
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    campaign = "reelmake: 1\ncampaign: c\ntemplate: spot.yaml.j2\nvariants:\n  name: '{{ m }}'\n  matrix: {m: [a]}\n"
    located_error(cli("validate", str(make(tmp_path / "c", campaign, f"reelmake: 1\n{loop}\n"))), None, "more than")


# -- state found on disk ----------------------------------------------------------------------------

def _rendered(project) -> Path:
    path = write(project, GOOD)
    result = cli("render", str(path), "--no-cut")
    assert result.exit_code == 0, result.output
    return path


def _damage(kind: str, project, path: Path) -> None:
    ws = project.root / ".reelmake"
    lock = project.root / "spot.lock"
    if kind == "journal junk":
        with open(ws / "journal.jsonl", "ab") as fh:
            fh.write(b'[1, 2]\n{"event": "nonsense"}\n\xff\xfe garbage\n{"key": 5, "event": "intent", "at": 1}\n')
    elif kind == "lock is a list":
        lock.write_text("- 1\n- 2\n")
    elif kind == "lock is a scalar":
        lock.write_text("hello\n")
    elif kind == "lock is binary":
        lock.write_bytes(b"\x00\xff\xfe\x01")
    elif kind == "lock from the future":
        lock.write_text("reelmake: 99\nshots: {}\n")
    elif kind == "lock is not YAML":
        lock.write_text("shots: [unclosed\n")
    elif kind == "lock entries are not mappings":
        lock.write_text("reelmake: 1\nshots: {one: 5}\n")
    elif kind == "clip metadata is a list":
        for meta in (ws / "clips").rglob("*.json"):
            meta.write_text("[]")
    elif kind == "memo is junk":
        (ws / "memo.json").write_text("{not json")
    elif kind == "workspace is a file":
        import shutil

        shutil.rmtree(ws)
        ws.write_text("I am a file")
    elif kind == "layout is damaged":
        (ws / "layout.json").write_text("{oops")
    elif kind == "layout from the future":
        (ws / "layout.json").write_text('{"layout": 99}')
    elif kind == "out/stem is a file":
        (project.root / "out").mkdir(exist_ok=True)
        (project.root / "out" / "spot").write_text("a file")
    elif kind == "budget file is junk":
        (ws / "budgets").mkdir(exist_ok=True)
        (ws / "budgets" / "x.json").write_text("[]")


STATE_CASES = {
    # case: (command, expected exit code, fragment of the message)
    "journal junk": ("plan", 0, ""),
    "lock is a list": ("plan", 1, "not a reelmake lock"),
    "lock is a scalar": ("plan", 1, "not a reelmake lock"),
    "lock is binary": ("plan", 1, "lock"),
    "lock from the future": ("plan", 1, "newer than this reelmake"),
    "lock is not YAML": ("plan", 1, "not valid YAML"),
    "lock entries are not mappings": ("plan", 1, "not entries reelmake wrote"),
    "clip metadata is a list": ("plan", 0, ""),
    "memo is junk": ("plan", 0, ""),
    "workspace is a file": ("plan", 1, "is a file"),
    "layout is damaged": ("plan", 1, "damaged"),
    "layout from the future": ("plan", 1, "newer reelmake"),
    "out/stem is a file": ("cut", 1, "cannot write"),
    "budget file is junk": ("render", 0, ""),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STATE_CASES))
def test_damaged_state_on_disk_is_a_message_never_a_traceback(project, name):
    path = _rendered(project)
    _damage(name, project, path)
    command, code, fragment = STATE_CASES[name]
    extra = ["--no-cut"] if command == "render" else []
    result = cli(command, str(path), *extra)
    no_traceback(result)
    assert result.exit_code == code, result.output
    assert fragment in result.output
    assert socket.gethostname()  # the environment the budget file relies on exists


def test_emoji_in_a_burned_caption_are_a_warning_not_empty_boxes(project):
    text = GOOD.replace('{id: one, prompt: "@maya runs"}', '{id: one, prompt: "@maya runs", caption: "Go 🎬 now"}')
    text = text.replace("fps: 12}", "fps: 12, captions: burn}")
    result = cli("validate", str(write(project, text)))
    no_traceback(result)
    assert result.exit_code == 0 and "warning" in result.output and "🎬" in result.output
    assert "empty boxes" in result.output
