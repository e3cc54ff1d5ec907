"""The JSON Schemas as editors see them: shipped current, every key described, usable outside this repository.

yaml-language-server's view of them (diagnostics, completion) is tested in test_editor_schema.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "src" / "reelmake" / "schemas"
NAMES = ("storyboard", "campaign")


def shipped(name: str) -> dict[str, Any]:
    return json.loads((SHIPPED / f"{name}.schema.json").read_text(encoding="utf-8"))


def write_schemas(folder: Path, *, python: str = sys.executable, pythonpath: Path | None = None) -> str:
    """``reelmake schema --output folder`` in a fresh process, run from ``folder``'s parent (a process of
    its own: the assembly covers the installed backends, not the ones other tests register)."""
    env = {"PATH": "/usr/bin:/bin"}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    run = subprocess.run([python, "-m", "reelmake.cli", "schema", "--output", folder.name], cwd=folder.parent,
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_the_shipped_schemas_are_what_reelmake_schema_writes(tmp_path):
    # Regenerate with: .venv/bin/reelmake schema --output src/reelmake/schemas/
    out = write_schemas(tmp_path / "schemas")
    for name in NAMES:
        assert f"wrote schemas/{name}.schema.json" in out
        written = (tmp_path / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
        assert written == (SHIPPED / f"{name}.schema.json").read_text(encoding="utf-8"), (
            f"{name}.schema.json is stale: run `.venv/bin/reelmake schema --output src/reelmake/schemas/`")


def test_a_built_package_ships_the_schemas_and_writes_them_into_any_project(tmp_path):
    """What a user who ran `pip install reelmake` gets: `reelmake schema --output schemas/` in their own
    project writes the files their modeline (`$schema=../../schemas/storyboard.schema.json`) points at."""
    source = tmp_path / "source"  # a copy, so the build leaves nothing in this checkout
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("reelmake-*.whl"))
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    project = tmp_path / "my-film"
    project.mkdir()
    probe = subprocess.run([sys.executable, "-c", "import reelmake; print(reelmake.__file__)"],
                           env={"PYTHONPATH": str(installed)}, capture_output=True, text=True, check=True)
    assert probe.stdout.startswith(str(installed)), "the test must run the built package, not this checkout"

    write_schemas(project / "schemas", pythonpath=installed)
    for name in NAMES:
        assert json.loads((project / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")) == shipped(name)


def _properties(node: Any, path: str = "#"):
    """(path, name, subschema) of every property declared anywhere in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, sub in value.items():
                    yield f"{path}/properties/{name}", name, sub
            yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _properties(value, f"{path}/{index}")


def _resolved(document: dict[str, Any], sub: dict[str, Any]) -> dict[str, Any]:
    """A ``$ref`` to ``#/$defs/x`` merged under the referring schema's own keys (draft 2020-12 siblings)."""
    ref = sub.get("$ref", "")
    if ref.startswith("#/$defs/"):
        return {**document["$defs"][ref.removeprefix("#/$defs/")], **sub}
    return sub


@pytest.mark.parametrize("name", NAMES)
def test_every_property_has_a_description(name):
    document = shipped(name)
    missing = [path for path, _, sub in _properties(document) if not _resolved(document, sub).get("description")]
    assert missing == []


@pytest.mark.parametrize("name", NAMES)
def test_every_subschema_in_defs_and_every_backend_fragment_has_a_title(name):
    document = shipped(name)
    untitled = [key for key, sub in document["$defs"].items() if not sub.get("title")]
    if name == "storyboard":
        untitled += [f"backends.{key}" for key, sub in document["$defs"]["backends"]["properties"].items()
                     if not sub.get("title")]
    assert untitled == []


@pytest.mark.parametrize("name", NAMES)
def test_the_description_of_a_short_enum_explains_each_value(name):
    document = shipped(name)
    unexplained = []
    for path, _, sub in _properties(document):
        full = _resolved(document, sub)
        values = full.get("enum", [])
        if 0 < len(values) <= 6:  # longer lists (ffmpeg's transitions) are described by family
            unexplained += [f"{path}: {value}" for value in values if str(value) not in full["description"]]
    assert unexplained == []


def test_backend_and_model_offer_the_registered_backends_and_the_catalog_models_as_examples():
    document = shipped("storyboard")
    backends = sorted(ep.name for ep in entry_points(group="reelmake.backends"))
    catalog = yaml.safe_load((REPO / "src" / "reelmake" / "catalog" / "models.yaml").read_text(encoding="utf-8"))
    assert {"animatic", "wavespeed", "local"} <= set(backends)
    for holder in (document["properties"]["defaults"], document["$defs"]["shot"]):
        assert holder["properties"]["backend"]["examples"] == backends
        assert holder["properties"]["model"]["examples"] == sorted(catalog)
