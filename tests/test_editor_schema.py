"""The schemas in a real editor: yaml-language-server (the server behind the YAML support of VS Code,
Neovim, Helix…) driven over the language server protocol, reading the modeline as an editor would.

`scripts/setup.sh test` installs node (apt-get, when missing) and the server (npm, into tests/editor/);
the tests skip only on a machine where node is not installed at all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lsp import EDITOR_TOOLS, SERVER, LanguageServer

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "storyboards").glob("*/*.yaml"))
SCHEMAS = REPO / "src" / "reelmake" / "schemas"
STORYBOARD = json.loads((SCHEMAS / "storyboard.schema.json").read_text(encoding="utf-8"))
CAMPAIGN = json.loads((SCHEMAS / "campaign.schema.json").read_text(encoding="utf-8"))
STORYBOARD_LINE = "# yaml-language-server: $schema=../../schemas/storyboard.schema.json\n"
CAMPAIGN_LINE = "# yaml-language-server: $schema=../../schemas/campaign.schema.json\n"
# Documents are opened under these names (never written): the modeline resolves against their folder.
STORYBOARD_PATH = REPO / "storyboards" / "demo" / "editing.yaml"
CAMPAIGN_PATH = REPO / "storyboards" / "campaign" / "editing.yaml"
CURSOR = "<|>"


@pytest.fixture(scope="module")
def server():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: `scripts/setup.sh test` (as root) installs it with apt-get, "
                    "or install Node.js 18+ yourself")
    if not SERVER.exists():
        _install_server()
    language_server = LanguageServer(node)
    yield language_server
    language_server.close()


def _install_server() -> None:
    """What `scripts/setup.sh test` does, for a run of pytest on a machine that skipped it."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("node is installed without npm: install npm, then run `scripts/setup.sh test`")
    run = subprocess.run([npm, "ci", "--prefix", str(EDITOR_TOOLS), "--no-audit", "--no-fund", "--loglevel=error"],
                         capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        pytest.fail(f"npm could not install yaml-language-server:\n{run.stderr}")


def _cursor(text: str) -> tuple[str, int, int]:
    before, after = text.split(CURSOR)
    return before + after, before.count("\n"), len(before.rsplit("\n", 1)[-1])


def _documentation(item: dict[str, Any]) -> str:
    doc = item.get("documentation") or ""
    return doc.get("value", "") if isinstance(doc, dict) else doc


def _keys(schema: dict[str, Any]) -> set[str]:
    return set(schema["properties"])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_examples_have_no_diagnostics(server, example):
    assert example.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=")
    assert server.diagnostics(example) == []


TYPOS = STORYBOARD_LINE + """\
reelmake: 1
title: Typos
defaults:
  backend: animatic
  shot_type: smart                    # flagged: "intelligent", "customize"
shots:
  - id: one                           # flagged: Missing property "prompt"
    promt: a rooftop at dawn          # flagged: promt is not allowed
  - id: two
    prompt: a leap
    duration: five                    # flagged: Expected "number"
deliverables:
  - {name: master, reframe: stretch}  # flagged: "crop", "pad", "render"
backends:
  wavespeed: {max_concurency: 2}      # flagged: max_concurency is not allowed
"""


def _flagged_lines(text: str) -> dict[int, str]:
    return {number: line.split("# flagged: ")[1] for number, line in enumerate(text.splitlines())
            if "# flagged: " in line}


def test_typos_in_a_storyboard_are_flagged_at_their_lines(server):
    diagnostics = server.diagnostics(STORYBOARD_PATH, TYPOS)
    found = {d["range"]["start"]["line"]: d["message"] for d in diagnostics}
    assert set(found) == set(_flagged_lines(TYPOS))
    for line, expected in _flagged_lines(TYPOS).items():
        assert expected in found[line], (line, found[line])


def test_typos_in_a_campaign_are_flagged_at_their_lines(server):
    text = CAMPAIGN_LINE + """\
reelmake: 1
campaign: aurora-q3
templte: spot.yaml.j2                 # flagged: templte is not allowed
variants:
  name: "{{ market }}"
  matrix: {market: [us, de]}
"""
    found = {d["range"]["start"]["line"]: d["message"] for d in server.diagnostics(CAMPAIGN_PATH, text)}
    assert 3 in found and "templte" in found[3]
    assert 1 in found and 'Missing property "template"' in found[1]


# (where the cursor is, the document, the keys the schema allows there)
KEY_POSITIONS = [
    ("top level", STORYBOARD_LINE + "reelmake: 1\n<|>\n", _keys(STORYBOARD) - {"reelmake"}),
    ("defaults", STORYBOARD_LINE + "defaults:\n  <|>\n", _keys(STORYBOARD["properties"]["defaults"])),
    ("a new shot", STORYBOARD_LINE + "shots:\n  - <|>\n", _keys(STORYBOARD["$defs"]["shot"])),
    ("a shot with an id", STORYBOARD_LINE + "shots:\n  - id: a\n    <|>\n", _keys(STORYBOARD["$defs"]["shot"]) - {"id"}),
    ("a multi_prompt segment", STORYBOARD_LINE + "shots:\n  - id: a\n    multi_prompt:\n      - <|>\n",
     _keys(STORYBOARD["$defs"]["segment"])),
    ("a transition", STORYBOARD_LINE + "shots:\n  - id: a\n    transition:\n      <|>\n",
     _keys(STORYBOARD["$defs"]["transition"])),
    ("a character", STORYBOARD_LINE + "characters:\n  maya:\n    <|>\n", _keys(STORYBOARD["$defs"]["character"])),
    ("an asset", STORYBOARD_LINE + "assets:\n  theme:\n    <|>\n", _keys(STORYBOARD["$defs"]["asset"])),
    ("a soundtrack bed", STORYBOARD_LINE + "soundtrack:\n  - <|>\n", _keys(STORYBOARD["$defs"]["soundtrack_item"])),
    ("mix", STORYBOARD_LINE + "mix:\n  <|>\n", _keys(STORYBOARD["$defs"]["mix"])),
    ("a deliverable", STORYBOARD_LINE + "deliverables:\n  - <|>\n", _keys(STORYBOARD["$defs"]["deliverable"])),
    ("backends", STORYBOARD_LINE + "backends:\n  <|>\n", _keys(STORYBOARD["$defs"]["backends"])),
    *[(f"backends.{name}", STORYBOARD_LINE + f"backends:\n  {name}:\n    <|>\n", _keys(fragment))
      for name, fragment in STORYBOARD["$defs"]["backends"]["properties"].items()],
    ("campaign top level", CAMPAIGN_LINE + "reelmake: 1\n<|>\n", _keys(CAMPAIGN) - {"reelmake"}),
    ("campaign variants", CAMPAIGN_LINE + "variants:\n  <|>\n", _keys(CAMPAIGN["properties"]["variants"])),
]


@pytest.mark.parametrize("document, keys", [p[1:] for p in KEY_POSITIONS], ids=[p[0] for p in KEY_POSITIONS])
def test_completion_at_a_key_offers_every_key_and_documents_every_item(server, document, keys):
    text, line, character = _cursor(document)
    path = CAMPAIGN_PATH if document.startswith(CAMPAIGN_LINE) else STORYBOARD_PATH
    items = server.completion(path, text, line, character)
    assert keys <= {item["label"] for item in items}
    assert [item["label"] for item in items if not _documentation(item).strip()] == []


@pytest.mark.parametrize("key, some", [
    ("backend", {"animatic", "wavespeed", "local"}),
    ("model", {"animatic", "kling-video-o3-std", "kling-video-o3-pro", "wan2.1-vace-1.3b"}),
])
def test_backend_and_model_values_offer_the_registered_backends_and_the_catalog_models(server, key, some):
    offered = STORYBOARD["properties"]["defaults"]["properties"][key]["examples"]
    assert some <= set(offered)
    for document in (f"defaults:\n  {key}: <|>\n", f"shots:\n  - id: a\n    {key}: <|>\n"):
        text, line, character = _cursor(STORYBOARD_LINE + document)
        labels = [item["label"] for item in server.completion(STORYBOARD_PATH, text, line, character)]
        assert sorted(labels) == sorted(offered)


@pytest.mark.parametrize("document", [
    "defaults:\n  shot_type: <|>\n",
    "shots:\n  - id: a\n    shot_type: <|>\n",
    "deliverables:\n  - name: a\n    reframe: <|>\n",
    "deliverables:\n  - name: a\n    captions: <|>\n",
], ids=["defaults.shot_type", "shot_type", "reframe", "captions"])
def test_enum_value_completions_explain_each_value(server, document):
    text, line, character = _cursor(STORYBOARD_LINE + document)
    items = server.completion(STORYBOARD_PATH, text, line, character)
    documentation = [_documentation(item) for item in items]
    assert len(items) >= 2 and all(documentation)
    assert len(set(documentation)) == len(items), "each value has its own explanation"


def test_a_project_outside_this_repository_gets_its_schema_from_reelmake_schema_output(server, tmp_path):
    """An installed reelmake writes the schemas into the user's project; the examples' modeline then works."""
    run = subprocess.run([sys.executable, "-m", "reelmake.cli", "schema", "--output", "schemas"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    film = tmp_path / "storyboards" / "spot" / "spot.yaml"
    good = STORYBOARD_LINE + "reelmake: 1\ntitle: Spot\nshots:\n  - {id: one, prompt: a rooftop at dawn}\n"
    assert server.diagnostics(film, good) == []
    flagged = server.diagnostics(film, good.replace("prompt:", "promt:"))
    assert [d["range"]["start"]["line"] for d in flagged if "promt" in d["message"]] == [4]
    assert any(d["data"]["schemaUri"] == [(tmp_path / "schemas" / "storyboard.schema.json").as_uri()]
               for d in flagged)
