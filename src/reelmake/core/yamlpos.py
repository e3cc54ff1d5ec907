"""YAML → plain Python data, remembering where every node came from.

PyYAML silently keeps the last of two equal keys; we compose the node graph ourselves so a
duplicate key is an error, and so every value (and every mapping key) has a line and column
that error messages can point at.
"""

from __future__ import annotations

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


class _Composer:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.positions = Positions()
        self.problems: list[Problem] = []
        self._scalars = yaml.SafeLoader("")  # only its scalar constructors are used

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.positions.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            self._scalars.flatten_mapping(node)  # resolves `<<` merge keys like safe_load does
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalars.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    line, col = _mark(key_node)
                    self.problems.append(Problem(self.filename, line, col, format_path(path), "mapping keys must be plain scalars"))
                    continue
                key = str(key) if not isinstance(key, str) else key
                child = (*path, key)
                if key in result:
                    line, col = _mark(key_node)
                    first = self.positions.keys[child][0]
                    self.problems.append(
                        Problem(self.filename, line, col, format_path(child), f"duplicate key {key!r} (first defined on line {first})")
                    )
                    continue
                self.positions.keys[child] = _mark(key_node)
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalars.construct_object(node, deep=True)


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
    except yaml.YAMLError as exc:
        return None, Positions(), [Problem(filename, 1, 1, "", f"YAML error: {exc}")]
    if node is None:
        return None, Positions(), [Problem(filename, 1, 1, "", "the file is empty")]
    composer = _Composer(filename)
    data = composer.build(node, ())
    return data, composer.positions, composer.problems
