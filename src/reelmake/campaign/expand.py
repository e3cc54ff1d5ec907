"""Variants from a campaign's ``variants`` block: a CI-style matrix or a CSV table. Pure, but for reading the CSV.

Each expansion yields the variant's own variables in order; naming and rendering happen in
:mod:`reelmake.campaign`.
"""

from __future__ import annotations

import csv
import difflib
import io
import itertools
import math
import re
from collections.abc import Callable
from typing import Any

from ..errors import Problem

Combination = dict[str, Any]
# (data path, message, severity) → a located Problem; supplied by the caller, who knows positions.
Report = Callable[[tuple, str, str], None]

_INT = re.compile(r"[+-]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED = ("campaign", "variant")
MAX_VARIANTS = 10_000  # far beyond any real campaign; a typo in a matrix must not expand to millions


def expand_matrix(block: dict[str, Any], report: Report) -> list[Combination]:
    """Cartesian product of ``matrix``, minus ``exclude``, then ``include``, as GitHub Actions does it.

    - ``exclude`` runs first and removes every combination matching all of an entry's values.
    - Each ``include`` entry is added to every original combination whose matrix values it does not
      contradict (keys it adds may overwrite what an earlier include added, never a matrix value);
      when it fits none, it becomes a combination of its own.
    """
    matrix: dict[str, list[Any]] = block["matrix"]
    keys = list(matrix)
    size = math.prod(len(values) for values in matrix.values())
    if size > MAX_VARIANTS:
        report(("variants", "matrix"), f"the matrix makes {size:,} combinations; reelmake plans at most "
                                       f"{MAX_VARIANTS:,} variants per campaign (split the campaign)", "error")
        return []
    combos = [dict(zip(keys, values)) for values in itertools.product(*matrix.values())]

    for i, entry in enumerate(block.get("exclude", [])):
        unknown = [k for k in entry if k not in matrix]
        for key in unknown:
            hint = difflib.get_close_matches(key, keys, n=1)
            more = f" (did you mean {hint[0]!r}?)" if hint else f"; matrix keys: {', '.join(keys)}"
            report(("variants", "exclude", i, key), f"{key!r} is not a matrix key{more}", "error")
        if unknown:
            continue
        kept = [c for c in combos if not all(c.get(k) == v for k, v in entry.items())]
        if len(kept) == len(combos):
            report(("variants", "exclude", i), "this exclude matches no combination of the matrix", "warning")
        combos = kept

    originals = len(combos)
    for entry in block.get("include", []):
        matched = False
        for combo in combos[:originals]:
            if all(combo[k] == v for k, v in entry.items() if k in matrix):
                combo.update({k: v for k, v in entry.items() if k not in matrix})
                matched = True
        if not matched:
            combos.append(dict(entry))
    return combos


def cell_value(text: str) -> int | float | str:
    """A CSV cell as a template sees it: a whole number, a decimal number, or the text as written.

    Text that only looks numeric stays text where converting would lose information: leading zeros
    ("007", a postcode), "nan"/"inf", and surrounding spaces around non-numbers.
    """
    stripped = text.strip()
    if _INT.fullmatch(stripped):
        return int(stripped)
    if _FLOAT.fullmatch(stripped) and not re.match(r"[+-]?0[0-9]", stripped):
        return float(stripped)
    return text


def read_table(text: str, filename: str) -> tuple[list[tuple[int, Combination]], list[Problem]]:
    """Rows of a CSV table as (line number, variables), and problems located in ``filename``.

    The header names the variables; blank lines are skipped (spreadsheet exports end with some).
    """
    # strict: an unterminated quote is an error, not a cell that swallows the rest of the file
    rows = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    out: list[tuple[int, Combination]] = []
    problems: list[Problem] = []

    def report(line: int, message: str) -> None:
        problems.append(Problem(filename, line, 1, "", message))

    try:
        for row in rows:
            line = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                for message in _header_problems(header):
                    report(line, message)
                continue
            if len(row) != len(header):
                report(line, f"row has {len(row)} cells but the header has {len(header)} columns "
                       f"({', '.join(header)}); quote cells that contain commas")
                continue
            out.append((line, {name: cell_value(cell) for name, cell in zip(header, row)}))
            if len(out) > MAX_VARIANTS:
                report(line, f"more than {MAX_VARIANTS:,} rows; reelmake plans at most {MAX_VARIANTS:,} variants per "
                             "campaign (split the table)")
                return out[:MAX_VARIANTS], problems
    except csv.Error as exc:
        report(rows.line_num, f"not valid CSV: {exc}")
    if header is None:
        report(1, "the table is empty: write a header row of variable names, then one row per variant")
    elif not out and not problems:
        report(1, "the table has a header but no rows: add one row per variant")
    return out, problems


def _header_problems(header: list[str]) -> list[str]:
    out, seen = [], set()
    for name in header:
        if name in seen:
            out.append(f"column {name!r} appears twice in the header")
        elif name in RESERVED:
            out.append(f"column {name!r} is reserved: reelmake sets {{{{ campaign }}}} and {{{{ variant }}}} "
                       "for every variant; rename the column")
        elif not _VARIABLE.fullmatch(name):
            out.append(f"column {name!r} is not a variable name: use letters, digits and '_', not starting "
                       "with a digit (templates write {{ name }})")
        seen.add(name)
    return out
