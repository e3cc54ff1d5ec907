"""The JSON Schemas, and schema errors turned into located problems.

The storyboard schema is assembled: the core document (``core/storyboard.schema.json``) plus each
installed backend plugin's ``backends.<name>`` fragment, with the registered backends and catalog
models offered to editors as examples. ``reelmake schema --output DIR`` writes it for editors; the
copy shipped in ``schemas/`` is the assembly of the built-in backends (a test keeps it current).
"""

from __future__ import annotations

import copy
import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaViolation

from ..catalog import load_catalog
from ..errors import Problem
from ..plugins import known_backends, plugins
from .yamlpos import Positions, format_path

_TYPE_NAMES = {"number": "a number", "integer": "a whole number", "string": "text", "boolean": "true or false",
               "array": "a list", "object": "a mapping"}


def _base(name: str) -> dict[str, Any]:
    folder = "core" if name == "storyboard" else "schemas"
    return json.loads(resources.files("reelmake").joinpath(folder, f"{name}.schema.json").read_text(encoding="utf-8"))


def schema(name: str = "storyboard") -> dict[str, Any]:
    """The schema as a dict: ``storyboard`` (assembled with the installed backends) or ``campaign``."""
    if name != "storyboard":
        return _base(name)
    document = _base(name)
    backends = document["$defs"]["backends"]
    for plugin in plugins():
        backends["properties"][plugin.name] = plugin.settings_schema
    names = known_backends()
    models = sorted(load_catalog())
    for holder in (document["properties"]["defaults"], document["$defs"]["shot"]):
        holder["properties"]["backend"]["examples"] = names
        holder["properties"]["host"]["examples"] = names
        holder["properties"]["model"]["examples"] = models
    return document


def schema_text(name: str = "storyboard") -> str:
    return json.dumps(schema(name), indent=2, ensure_ascii=False) + "\n"


@cache
def _cached_validator(name: str, backends: tuple[str, ...]) -> Draft202012Validator:
    return Draft202012Validator(schema(name))


def _validator(name: str) -> Draft202012Validator:
    # Keyed by the registered backends: a plugin registered at run time brings its settings schema.
    return _cached_validator(name, tuple(known_backends()))


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return str(value)


def _message(error: SchemaViolation) -> tuple[tuple, str, bool]:
    """(path, message, point_at_key) for one violation, in words a storyboard author understands."""
    path = tuple(error.absolute_path)
    validator, value = error.validator, error.instance
    if isinstance(error.schema, dict) and "x-message" in error.schema:
        return path, error.schema["x-message"], True
    if validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in value if k not in allowed]
        key = extra[0] if extra else "?"
        hint = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else f"; allowed: {', '.join(allowed)}"
        return (*path, key), f"unknown key {key!r}{suggestion}", True
    if validator == "required":
        return path, error.message.replace("is a required property", "is required"), False
    if validator == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return path, f"{_describe(value)} is not one of: {options}", False
    if validator == "type":
        wanted = error.validator_value
        wanted = " or ".join(_TYPE_NAMES.get(w, w) for w in (wanted if isinstance(wanted, list) else [wanted]))
        return path, f"expected {wanted}, got {_describe(value)}", False
    if validator == "const":
        return path, f"must be {error.validator_value!r} (the only format version this reelmake reads)", False
    if validator == "oneOf" and path and "image" in error.schema.get("properties", {}):
        return path, "an asset needs exactly one of: image, video, audio, generate", False
    if validator == "oneOf" and path and "images" in error.schema.get("properties", {}):
        return path, "a character needs exactly one of: images, generate", False
    if validator == "not" and isinstance(value, dict) and {"start", "at"} <= set(value):
        return path, "use either 'start' or 'at', not both", False
    if validator == "pattern" and path and path[-1] == "id":
        return path, f"{_describe(value)} is not a valid shot id: use lowercase letters, digits, '-' and '_'", False
    if validator == "pattern" and path and path[-1] == "size":
        return path, f"{_describe(value)} is not a size: write WIDTHxHEIGHT, e.g. 1920x1080", False
    if validator == "propertyNames":
        return path, f"invalid name: {error.message}", False
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return path, f"{_describe(value)} is out of range ({validator} {error.validator_value})", False
    return path, error.message, False


def schema_problems(data: Any, positions: Positions, filename: str, name: str = "storyboard") -> list[Problem]:
    """Every schema violation, located at the offending node (or key), in document order."""
    problems = []
    for error in _validator(name).iter_errors(data):
        path, message, at_key = _message(error)
        line, column = positions.of(path, key=at_key)
        problems.append(Problem(filename, line, column, format_path(path), message))
    problems.sort(key=lambda p: (p.line, p.column, p.message))
    return problems


# Sections whose items are built as a whole: an item with a wrong value is left out of the semantic
# checks (its other fields may depend on the wrong one), while an unknown key alone costs only the key.
_ITEMS = {"shots", "soundtrack", "deliverables", "characters", "assets"}


def salvage(data: dict[str, Any], name: str = "storyboard") -> dict[str, Any] | None:
    """``data`` without the parts the schema rejects, so the semantic rules can still check the rest:
    one typo must not hide a missing file or a duplicate shot id elsewhere. Items of a list keep their
    index (a pruned shot becomes None, which the builder skips) so every problem keeps its location.
    None when nothing buildable is left."""
    data = copy.deepcopy(data)
    pruned: set[tuple] = set()  # list items already replaced by None (the schema rejects None itself)
    for _ in range(8):  # each pass prunes what the last one exposed; a few passes always suffice
        errors = [e for e in _validator(name).iter_errors(data)
                  if not any(tuple(e.absolute_path)[:len(p)] == p for p in pruned)]
        if not errors:
            return data
        for error in errors:
            path = list(error.absolute_path)
            if error.validator == "additionalProperties":
                allowed = error.schema.get("properties", {})
                for key in [k for k in error.instance if k not in allowed]:
                    _prune(data, [*path, key])
                continue
            if len(path) >= 2 and path[0] in _ITEMS:
                path = path[:2]  # the whole shot (soundtrack item, deliverable, character, asset)
            if not path or path == ["shots"]:
                return None  # no shots list to speak of: the schema problems say it all
            _prune(data, path)
            if isinstance(path[-1], int):
                pruned.add(tuple(path))
    return None


def _prune(data: Any, path: list[Any]) -> None:
    node = data
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    last = path[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node):
        node[last] = None  # keep the other items' indexes
