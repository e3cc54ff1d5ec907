"""Campaigns (SPEC §6): one Jinja2 storyboard template × a matrix or table of variants → many storyboards.

:func:`expand_campaign` reads the campaign file, expands and names its variants and renders the
template for each in a sandbox. It returns the rendered storyboard texts with every problem found so
far; the engine's loader validates each text as a storyboard that lives in the campaign's directory
(so references resolve there), so one bad variant never hides another.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..core.schema import schema_problems
from ..core.yamlpos import Positions, format_path, load_yaml
from ..errors import Problem, ValidationError
from ..fsutil import display_name
from .expand import Combination, expand_matrix, read_table
from .template import TemplateFailure, confined, make_environment, render

VARIANT_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_LIST_AT_MOST = 5  # variant ids named in one grouped problem before "and N more"


@dataclass
class _Named:
    """A variant before rendering: its id, own variables and where it was defined."""

    id: str
    own: Combination
    where: tuple[str, int, int]  # file, line, column of its definition (matrix name pattern or table row)


class _Spec:
    """The campaign file read, schema-checked and its variants named; collects problems as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).absolute()
        self.directory = self.path.parent
        self.filename = display_name(self.path)
        self.problems: list[Problem] = []
        self.data: dict[str, Any] = {}
        self.positions = Positions()
        self.env: ImmutableSandboxedEnvironment = make_environment(self.directory)
        self.template: Path | None = None
        self.named: list[_Named] = []

    def add(self, path: tuple, message: str, severity: str = "error", *, key: bool = False) -> None:
        line, column = self.positions.of(path, key=key)
        self.problems.append(Problem(self.filename, line, column, format_path(path), message, severity))

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    def read(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(Problem(self.filename, 1, 1, "", f"cannot read the campaign file: {exc}"))
            return
        data, self.positions, problems = load_yaml(text, self.filename)
        self.problems += problems
        if data is None:
            return
        if not isinstance(data, dict):
            self.add((), "a campaign is a YAML mapping (reelmake: 1, campaign, template, variants…)")
            return
        self.data = data
        self.problems += [_friendlier(p, data) for p in schema_problems(data, self.positions, self.filename,
                                                                           name="campaign")]
        if self.failed:
            return
        self.template, problem = confined(self.directory, data["template"])
        if problem:
            self.add(("template",), problem)
        self._name_variants()

    def _combinations(self) -> list[tuple[Combination, tuple[str, int, int]]]:
        block = self.data["variants"]
        if "matrix" in block:
            where = (self.filename, *self.positions.of(("variants", "name")))
            combos = expand_matrix(block, lambda path, message, severity: self.add(path, message, severity, key=True))
            return [(combo, where) for combo in combos]
        table, problem = confined(self.directory, block["table"])
        if table is None:
            self.add(("variants", "table"), problem or "")
            return []
        table_name = display_name(table)
        try:
            text = table.read_text(encoding="utf-8-sig")  # spreadsheets often write a BOM
        except (OSError, UnicodeDecodeError) as exc:
            self.add(("variants", "table"), f"cannot read the table: {exc}")
            return []
        rows, problems = read_table(text, table_name)
        self.problems += problems
        return [(row, (table_name, line, 1)) for line, row in rows]

    def _name_variants(self) -> None:
        pattern = self.data["variants"]["name"]
        try:
            name_template = self.env.from_string(pattern)
        except TemplateSyntaxError as exc:
            self.add(("variants", "name"), f"the name pattern is not a valid template: {exc.message}")
            return
        shared = self.data.get("vars", {})
        seen: dict[str, Combination] = {}
        for own, where in self._combinations():
            context = {**shared, **own, "campaign": self.data["campaign"]}
            rendered = render(self.env, name_template, context)
            if isinstance(rendered, TemplateFailure):
                self._at(where, f"variant {_describe(own)}: the name pattern {pattern!r} fails: {rendered.message}")
                continue
            vid = rendered.strip()
            if not VARIANT_ID.fullmatch(vid):
                self._at(where, f"variant id {vid!r} (name pattern {pattern!r} with {_describe(own)}) is not "
                         "filesystem-safe: use lowercase letters, digits, '.', '_' and '-', starting with a "
                         "letter or digit (filters help: {{ market | lower }})")
                continue
            if vid in seen:
                self._at(where, f"variants {_describe(seen[vid])} and {_describe(own)} both get id {vid!r}: "
                         f"make the name pattern {pattern!r} tell them apart")
                continue
            seen[vid] = own
            self.named.append(_Named(vid, own, where))
        if not self.named and not self.failed:
            self.add(("variants",), "no variants: the matrix excludes every combination")

    def _at(self, where: tuple[str, int, int], message: str) -> None:
        self.problems.append(Problem(where[0], where[1], where[2], "", message))

    def select(self, wanted: list[str] | None) -> list[_Named]:
        """The variants named (ids or shell-style patterns such as ``us-*``), in expansion order."""
        if not wanted:
            return list(self.named)
        ids = [n.id for n in self.named]
        for pattern in wanted:
            if not fnmatch.filter(ids, pattern):
                self.add(("variants",), f"no variant matches {pattern!r}; variants: {', '.join(ids)}", key=True)
        return [n for n in self.named if any(fnmatch.fnmatchcase(n.id, p) for p in wanted)]

    def context(self, named: _Named) -> dict[str, Any]:
        return {**self.data.get("vars", {}), **named.own, "campaign": self.data["campaign"], "variant": named.id}

    def render(self, named: _Named) -> str | TemplateFailure:
        assert self.template is not None
        name = self.template.relative_to(self.directory.resolve()).as_posix()
        return render(self.env, name, self.context(named))

    def template_problem(self, failure: TemplateFailure, variant_ids: list[str]) -> Problem:
        file = display_name(Path(failure.file)) if failure.file else display_name(self.template or self.path)
        return Problem(file, failure.line, 1, "", f"{_variants_phrase(variant_ids)}: {failure.message}")


def _describe(own: Combination) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in own.items()) + ")"


def _variants_phrase(ids: list[str]) -> str:
    if len(ids) == 1:
        return f"variant {ids[0]}"
    shown = ", ".join(ids[:_LIST_AT_MOST])
    more = f" and {len(ids) - _LIST_AT_MOST} more" if len(ids) > _LIST_AT_MOST else ""
    return f"variants {shown}{more}"


def _friendlier(problem: Problem, data: dict[str, Any]) -> Problem:
    """Campaign-specific wording for the schema's generic messages (pattern, not, oneOf)."""
    message = problem.message
    if "should not be valid under {'enum': ['campaign', 'variant']}" in message:
        name = message.split(" should not", 1)[0]
        message = (f"{name} is reserved: reelmake sets {{{{ campaign }}}} and {{{{ variant }}}} for every "
                   "variant; rename the variable")
    elif "does not match '^[A-Za-z_]" in message:
        name = message.split(" does not match", 1)[0]
        message = f"{name} is not a variable name: use letters, digits and '_', not starting with a digit"
    elif problem.path == "campaign" and "does not match" in message:
        message = (f"{data['campaign']!r} is not a valid campaign name (it names the output folder): use "
                   "lowercase letters, digits, '.', '_' and '-'")
    elif problem.path == "variants" and "is not valid under any of the given schemas" in message:
        block = data.get("variants", {})
        if "matrix" in block and "table" in block:
            message = "give either 'matrix' or 'table', not both"
        elif "table" in block:
            message = "'include' and 'exclude' work with 'matrix' only; edit the table's rows instead"
        else:
            message = "add 'matrix' (values per variable) or 'table' (a CSV file, one row per variant)"
    return Problem(problem.file, problem.line, problem.column, problem.path, message, problem.severity)


_TEMPLATE_SUFFIXES = (".j2", ".jinja2", ".jinja")


def template_stem(template: Path) -> str:
    """``spot.yaml.j2`` → ``spot``: the stem every variant's storyboard name starts with."""
    name = template.name
    for suffix in _TEMPLATE_SUFFIXES:
        name = name.removesuffix(suffix)
    for suffix in (".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name or "storyboard"


@dataclass(frozen=True)
class RenderedVariant:
    """What the template produced for one variant, and where its storyboard notionally lives."""

    id: str
    vars: Mapping[str, Any]  # shared vars under its own
    text: str
    path: Path  # beside the campaign file (references resolve there), unique per variant
    filename: str  # how its problems name it


@dataclass
class CampaignSource:
    """A campaign file read and expanded: its settings, its rendered variants, and every problem."""

    path: Path
    name: str
    template: Path | None
    vars: Mapping[str, Any]
    budget: Decimal | None
    variants: list[RenderedVariant]
    all_variant_ids: tuple[str, ...]
    problems: list[Problem]  # of the campaign file, its table and the variant names
    template_problems: list[Problem]  # the template failed for some variants (each failure once)

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in (*self.problems, *self.template_problems))


def expand_campaign(path: str | Path, *, variants: list[str] | None = None) -> CampaignSource:
    """Read, expand and render a campaign (``variants`` selects some: ids or patterns such as ``de-*``).

    Never raises for a problem in the files: every problem is in the result, located."""
    spec = _Spec(Path(path))
    spec.read()
    selected = spec.select(variants) if not spec.failed else []
    rendered: list[RenderedVariant] = []
    failures: dict[tuple[str | None, int, str], list[str]] = {}
    if not spec.failed:
        assert spec.template is not None
        stem = template_stem(spec.template)
        for named in selected:
            text = spec.render(named)
            if isinstance(text, TemplateFailure):
                # The same template mistake usually hits many variants: say it once, naming them all.
                failures.setdefault((text.file, text.line, text.message), []).append(named.id)
                continue
            filename = f"{spec.filename}[{named.id}] (rendered from {display_name(spec.template)})"
            rendered.append(RenderedVariant(named.id, {**spec.data.get("vars", {}), **named.own}, text,
                                            spec.directory / f"{stem}.{named.id}.yaml", filename))
    template_problems = [spec.template_problem(TemplateFailure(file, line, message), ids)
                         for (file, line, message), ids in failures.items()]
    data = spec.data
    return CampaignSource(
        path=spec.path,
        name=str(data.get("campaign", "")),
        template=spec.template,
        vars=dict(data.get("vars", {})),
        budget=Decimal(str(data["budget"])) if "budget" in data else None,
        variants=rendered,
        all_variant_ids=tuple(n.id for n in spec.named),
        problems=spec.problems,
        template_problems=template_problems,
    )


def expand_command(path: str | Path, variant_id: str) -> str:
    """The storyboard text the template renders for one variant (``reelmake expand CAMPAIGN --variant ID``).

    It is not validated as a storyboard, so a user can look at exactly what a failing variant produced.
    """
    spec = _Spec(Path(path))
    spec.read()
    if not spec.failed:
        named = [n for n in spec.named if n.id == variant_id]
        if not named:
            ids = ", ".join(n.id for n in spec.named)
            spec.add(("variants",), f"no variant {variant_id!r}; variants: {ids}", key=True)
    if spec.failed:
        raise ValidationError(spec.problems)
    text = spec.render(named[0])
    if isinstance(text, TemplateFailure):
        raise ValidationError([spec.template_problem(text, [variant_id])])
    return text


def variant_ids(path: str | Path) -> list[str]:
    """The campaign's variant ids in order, without rendering anything (for listings and completion)."""
    spec = _Spec(Path(path))
    spec.read()
    if spec.failed:
        raise ValidationError(spec.problems)
    return [n.id for n in spec.named]
