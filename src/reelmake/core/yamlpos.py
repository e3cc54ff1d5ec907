"""YAML → plain Python data, remembering where every node came from.

PyYAML silently keeps the last of two equal keys; we compose the node graph ourselves so a
duplicate key is an error, and so every value (and every mapping key) has a line and column
that error messages can point at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import Problem

Path_ = tuple[str | int, ...]
# libyaml's composer keeps node marks and is ~10x faster; fall back to pure Python without it.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Positions:
    """1-based (line, column) of values and of mapping keys, by data path."""

    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def of(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Position of ``path`` (or of its key); falls back to the nearest known ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))


def format_path(path: Path_) -> str:
    """``('shots', 1, 'duration')`` → ``shots[1].duration``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


# Bounds on what a document may expand to. A storyboard is small; anything past these is a mistake or an
# attack (a 430-byte "billion laughs" alias bomb expands to millions of values).
MAX_VALUES = 200_000
MAX_DEPTH = 64
_STANDARD_TAGS = {"tag:yaml.org,2002:" + name for name in
                  ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge", "binary")}


class _TooBig(Exception):
    """The document expands past MAX_VALUES or MAX_DEPTH."""


class _Composer:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.positions = Positions()
        self.problems: list[Problem] = []
        self._scalars = yaml.SafeLoader("")  # only its scalar constructors are used
        self._values = 0
        self._open: set[int] = set()  # nodes being built: an alias to one of them is a cycle

    def _problem(self, node: yaml.Node, path: Path_, message: str) -> None:
        line, col = _mark(node)
        self.problems.append(Problem(self.filename, line, col, format_path(path), message))

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self._values += 1
        if self._values > MAX_VALUES or len(path) > MAX_DEPTH:
            raise _TooBig(node)
        self.positions.values[path] = _mark(node)
        if node.tag not in _STANDARD_TAGS and not isinstance(node, yaml.ScalarNode):
            self._problem(node, path, f"YAML tag {node.tag!r} is not supported here; remove it")
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if id(node) in self._open:
                self._problem(node, path, "a YAML alias refers to the value that contains it (an endless loop)")
                return None
            self._open.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self._mapping(node, path)
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            finally:
                self._open.discard(id(node))
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        try:
            value = self._scalars.construct_object(node, deep=True)
        except yaml.YAMLError:
            self._problem(node, path, f"YAML tag {node.tag!r} is not supported here; write a plain value")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self._problem(node, path, f"{node.value!r} is not a number reelmake accepts (no NaN or infinity)")
            return None
        return value

    def _key(self, key_node: yaml.Node, path: Path_) -> str | None:
        if not isinstance(key_node, yaml.ScalarNode):
            self._problem(key_node, path, "mapping keys must be plain scalars")
            return None
        key = self._scalar(key_node, path)
        if key is None and key_node.value not in ("", "~", "null", "Null", "NULL"):
            return None  # a key with an unsupported tag or value, already reported
        return key if isinstance(key, str) else str(key)

    def _merged(self, value_node: yaml.Node, path: Path_) -> list[tuple[yaml.Node, yaml.Node]]:
        """The key/value pairs a ``<<`` merge brings in (its own keys win over merged ones)."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        pairs: list[tuple[yaml.Node, yaml.Node]] = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self._problem(value_node, path, "`<<` merges a mapping (or a list of mappings) into this one")
                return []
            for key_node, child in source.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:merge":
                    pairs += self._merged(child, path)
                else:
                    pairs.append((key_node, child))
        return pairs

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:merge":
                merged += self._merged(value_node, path)
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            child = (*path, key)
            if key in result:
                first = self.positions.keys[child][0]
                self._problem(key_node, child, f"duplicate key {key!r} (first defined on line {first})")
                continue
            self.positions.keys[child] = _mark(key_node)
            result[key] = self.build(value_node, child)
        for key_node, value_node in merged:  # YAML merge: explicit keys override merged ones
            key = self._key(key_node, path)
            if key is None or key in result:
                continue
            child = (*path, key)
            self.positions.keys[child] = _mark(key_node)
            result[key] = self.build(value_node, child)
        return result


def load_yaml(text: str, filename: str) -> tuple[Any, Positions, list[Problem]]:
    """Parse one YAML document. Returns (data, positions, problems); problems include syntax
    errors (then data is None) and duplicate keys (then the first occurrence is kept)."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        return None, Positions(), [Problem(filename, line, col, "", f"YAML syntax error: {message}")]
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        return None, Positions(), [Problem(filename, 1, 1, "", f"YAML error: {exc}")]
    if node is None:
        return None, Positions(), [Problem(filename, 1, 1, "", "the file is empty")]
    composer = _Composer(filename)
    try:
        data = composer.build(node, ())
    except (_TooBig, RecursionError) as exc:
        where = exc.args[0] if isinstance(exc, _TooBig) else node
        line, col = _mark(where)
        return None, Positions(), [Problem(filename, line, col, "", (
            f"the document expands to more than {MAX_VALUES:,} values or nests deeper than {MAX_DEPTH} levels "
            "(YAML aliases repeated inside each other?); a storyboard is far smaller"))]
    return data, composer.positions, composer.problems
