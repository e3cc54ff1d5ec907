"""Loading a storyboard or campaign file: the pure core's validation plus the one inspection step.

A storyboard is a campaign of one variant, so both come out as a :class:`Campaign`. Every problem of
every variant is collected before anything is raised: a typo in one place never hides a missing file
in another.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path

from ..core.document import parse, with_warnings
from ..core.model import Campaign, Storyboard, Variant, yaml_stem
from ..core.references import FileFacts, check as check_references
from ..errors import BackendUnavailable, Problem, ValidationError
from ..fsutil import display_name, project_root
from ..plugins import get_plugin
from .inspect import inspect
from .memo import FileMemo

MAX_DOCUMENT_BYTES = 8 << 20  # a storyboard or campaign file; anything larger is a mistake


@dataclass(frozen=True)
class Loaded:
    """A file as loaded, with what inspection found about its files (for compiling)."""

    campaign: Campaign
    facts: dict[str, FileFacts]


def read_text(path: Path) -> tuple[str | None, Problem | None]:
    """The text of a storyboard or campaign file, or a located problem saying why it cannot be read.

    Only a regular file inside its own project is read: a link to ``/etc/passwd`` or ``/dev/zero``, a
    FIFO or a huge file is refused before a byte of it is parsed (or echoed in an error)."""
    name = display_name(path)

    def refuse(message: str) -> tuple[None, Problem]:
        return None, Problem(name, 1, 1, "", message)

    try:
        resolved = Path(path).resolve(strict=True)
        info = resolved.stat()
    except FileNotFoundError:
        return refuse("does not exist")
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte, a name too long
        return refuse(f"cannot read: {getattr(exc, 'strerror', None) or exc}")
    if stat.S_ISDIR(info.st_mode):
        return refuse("is a directory, not a storyboard file")
    if not stat.S_ISREG(info.st_mode):
        return refuse("is not a regular file (a device, a pipe or a socket)")
    if not resolved.is_relative_to(project_root(Path(path))):
        return refuse(f"is a link to {resolved}, outside the project; copy the file into the project instead")
    if info.st_size > MAX_DOCUMENT_BYTES:
        return refuse(f"is larger than {MAX_DOCUMENT_BYTES >> 20} MiB; a storyboard is a small YAML file")
    try:
        data = resolved.read_bytes()
    except OSError as exc:
        return refuse(f"cannot read: {exc.strerror or exc}")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return refuse(f"is not UTF-8 text (byte {exc.start}); save it as UTF-8")


def _sibling_problem(path: Path) -> Problem | None:
    """``a.yaml`` and ``a.yml`` side by side would share ``a.lock`` and ``out/a/``."""
    name = path.name
    for mine, theirs in ((".yaml", ".yml"), (".yml", ".yaml")):
        if name.endswith(mine):
            other = path.with_name(name[: -len(mine)] + theirs)
            if other.exists():
                return Problem(display_name(path), 1, 1, "", f"{other.name} is beside it: both would share "
                               f"{yaml_stem(path)}.lock and out/{yaml_stem(path)}/; rename one of them")
    return None


_CAMPAIGN_KEY = re.compile(r"(?m)^campaign[ \t]*:")


def is_campaign_text(text: str) -> bool:
    """A campaign file has a top-level ``campaign:`` key (cheap: no YAML parse)."""
    return bool(_CAMPAIGN_KEY.search(text))


def is_campaign_file(path: str | Path) -> bool:
    text, _ = read_text(Path(path))
    return text is not None and is_campaign_text(text)


def _environment(storyboards: list[Storyboard], filename: str) -> list[Problem]:
    """What this machine lacks for the backends the storyboards use (a model directory, an extra)."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for sb in storyboards:
        used = dict.fromkeys([*(shot.backend for shot in sb.shots), *sb.backends])
        for name in used:
            try:
                plugin = get_plugin(name)
            except BackendUnavailable:
                continue
            for found in plugin.environment(sb.backends.get(name, {}), sb.directory):
                if (name, found.message) in seen:
                    continue
                seen.add((name, found.message))
                path = ("backends", name, *([found.key.split(".")[0]] if found.key else []))
                line, column = sb.positions.of(path) if name in sb.backends else (1, 1)
                problems.append(Problem(filename, line, column, ".".join(str(p) for p in path) if name in sb.backends
                                        else "", f"backend {name!r}: {found.message}",
                                        "warning" if found.warning else "error"))
    return problems


def _caption_glyphs(sb: Storyboard, filename: str) -> list[Problem]:
    """Captions burned in with characters the caption font cannot draw (emoji, CJK in DejaVu Sans):
    drawtext would show empty boxes, silently."""
    from ..edit.encode import font_file
    from ..edit.glyphs import missing
    from ..errors import MediaError

    burned = [d.name for d in sb.deliverables if d.captions == "burn"]
    if not burned:
        return []
    try:
        font = font_file()
    except MediaError:
        return []  # the cut says so, with the install command
    problems = []
    for shot in sb.shots:
        lacking = missing(shot.caption or "", font)
        if lacking:
            line, column = sb.positions.of(("shots", shot.index, "caption"))
            problems.append(Problem(filename, line, column, f"shots[{shot.index}].caption", (
                f"shot {shot.id!r}: {font.stem} has no glyph for {' '.join(lacking)}; burned into "
                f"{', '.join(burned)} they would show as empty boxes (the .srt/.vtt sidecars keep them)"),
                "warning"))
    return problems


def load(path: str | Path, *, backend: str | None = None, variants: list[str] | None = None,
         check_media: bool = True, memo: FileMemo | None = None, hash_files: bool = False) -> Loaded:
    """Load, validate and inspect a storyboard or campaign file; ValidationError with every problem.

    ``backend`` overrides every shot's backend (``--backend animatic``); ``variants`` selects some of a
    campaign's variants (ids or patterns); ``hash_files`` hashes every reference (planning needs it,
    validation does not); ``memo`` remembers hashes and probes between runs."""
    path = Path(path)
    text, problem = read_text(path)
    problem = problem or _sibling_problem(path)
    if problem is not None:
        raise ValidationError([problem])
    memo = memo or FileMemo(Path("/nonexistent/memo.json"))
    if is_campaign_text(text):
        return _load_campaign(path, backend, variants, check_media, memo, hash_files)
    if variants:
        raise ValidationError([Problem(display_name(path), 1, 1, "", "--variant only applies to campaign files")])
    absolute = path.absolute()
    root = project_root(absolute)
    filename = display_name(path)
    sb, problems = parse(text, absolute, filename=filename, root=root, backend=backend)
    facts: dict[str, FileFacts] = {}
    if sb is not None:
        facts = inspect([sb], memo, probe_media=check_media, hash_files=hash_files)
        problems += check_references(sb, facts, filename)
        problems += _environment([sb], filename)
        problems += _caption_glyphs(sb, filename)
    problems.sort(key=lambda p: (p.line, p.column))
    if sb is None or any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
    sb = with_warnings(sb, problems)
    campaign = Campaign(path=absolute, root=root, name=yaml_stem(absolute), kind="storyboard",
                        variants=(Variant("", sb),), budget=sb.budget, warnings=sb.warnings,
                        all_variant_ids=("",))
    return Loaded(campaign, facts)


def _load_campaign(path: Path, backend: str | None, variants: list[str] | None, check_media: bool,
                   memo: FileMemo, hash_files: bool) -> Loaded:
    from ..campaign.load import expand_campaign

    source = expand_campaign(path, variants=variants)
    problems = list(source.problems)
    if source.failed and not source.variants:
        raise ValidationError([*problems, *source.template_problems])  # nothing rendered: nothing to validate
    root = project_root(source.path)
    parsed: list[tuple[Storyboard, object, list[Problem]]] = []
    for rendered in source.variants:
        sb, found = parse(rendered.text, rendered.path, filename=rendered.filename, root=root, backend=backend)
        if sb is None:
            problems += found
        else:
            parsed.append((sb, rendered, found))
    facts = inspect([sb for sb, _, _ in parsed], memo, probe_media=check_media, hash_files=hash_files)
    built: list[Variant] = []
    limits_seen: set[tuple[str, str]] = set()  # a file's fitness for a model is reported once, not per variant
    for sb, rendered, found in parsed:
        found = [*found, *check_references(sb, facts, rendered.filename, limits_seen=limits_seen),
                 *_caption_glyphs(sb, rendered.filename)]
        problems += found
        if not any(p.severity == "error" for p in found):
            built.append(Variant(rendered.id, with_warnings(sb, found), rendered.vars, rendered.text))
    if parsed:
        problems += _environment([parsed[0][0]], source.path.name)
    problems += source.template_problems
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
    campaign = Campaign(
        path=source.path, root=root, name=source.name, kind="campaign", variants=tuple(built),
        budget=source.budget, template=source.template, vars=source.vars,
        warnings=tuple(p for p in problems if p.severity == "warning"),
        all_variant_ids=source.all_variant_ids,
    )
    return Loaded(campaign, facts)
