"""Jinja2 for campaigns: a sandbox confined to the campaign's directory, and errors that locate themselves.

Templates are code written by the people who edit the campaign, but they run on every CI machine that
plans it, so they get Jinja's immutable sandbox (no Python internals, no mutating shared variables),
strict undefined variables (a typo is an error, never an empty string), and a loader that reads only
regular files inside the campaign's directory (no ``..``, no absolute paths, no symlinks out).
"""

from __future__ import annotations

import contextlib
import difflib
import re
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from jinja2 import (
    BaseLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError


def inside(directory: Path, name: str) -> tuple[Path | None, str | None]:
    """Resolve ``name`` (relative, '/'-separated) inside ``directory``: (path, None) or (None, why not).

    Symlinks are followed before the check, so a link pointing out of the directory is refused too.
    """
    if not name or PurePosixPath(name).is_absolute() or Path(name).is_absolute() or "\\" in name:
        return None, f"{name!r} is not a relative path; write it relative to the campaign file"
    base = directory.resolve()
    resolved = (base / name).resolve()
    if not resolved.is_relative_to(base):
        return None, f"{name!r} resolves outside the campaign directory {base}"
    return resolved, None


def confined(directory: Path, name: str) -> tuple[Path | None, str | None]:
    """As :func:`inside`, and the file exists and is a regular file."""
    resolved, problem = inside(directory, name)
    if resolved is None:
        return None, problem
    if not resolved.exists():
        return None, f"{name!r} does not exist (looked for {resolved})"
    if not resolved.is_file():
        return None, f"{name!r} is not a regular file"
    return resolved, None


class CampaignLoader(BaseLoader):
    """Loads templates only from regular files inside one directory; remembers what it loaded."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.files: set[str] = set()  # absolute filenames, to find template frames in tracebacks

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        path, problem = inside(self.directory, template)
        if path is None:
            # A policy violation, not a missing file: say so.
            raise SecurityError(f"templates may only include files inside the campaign directory: {problem}")
        if not path.is_file():
            raise TemplateNotFound(template, f"{template!r} does not exist in {self.directory} (looked for {path})")
        text = path.read_text(encoding="utf-8")
        mtime = path.stat().st_mtime_ns
        filename = str(path)
        self.files.add(filename)
        return text, filename, lambda: path.exists() and path.stat().st_mtime_ns == mtime


# Text that YAML reads back unchanged as a plain scalar, in block and flow context alike: starts with a
# letter, has no indicator characters (PyYAML also stops at "?" in flow context), is not a word YAML 1.1
# reads as a boolean or null.
_PLAIN = re.compile(r"[A-Za-z\u00a0-\U0010ffff][^?:#\[\]{},\"'\\&*!|>%@`]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _plain_safe(text: str) -> bool:
    return (bool(_PLAIN.fullmatch(text)) and text.isprintable() and not text.endswith(" ")
            and text.lower() not in _YAML_WORDS)


def _double_quoted(text: str) -> str:
    """A YAML double-quoted scalar; whatever is not printable is escaped, so line breaks YAML knows
    and Python's emitter mishandles (U+0085, U+2028) survive too."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def yaml_scalar(value: Any) -> str:
    """The ``yaml`` filter: a value written as one YAML flow scalar, quoted when it needs to be.

    ``caption: {{ tagline | yaml }}`` stays valid YAML whatever the tagline holds (``:``, ``#``, quotes).
    """
    if isinstance(value, Undefined):
        str(value)  # a StrictUndefined raises the usual "'x' is undefined" here
    if isinstance(value, str) and _plain_safe(value):
        return value  # the common case (words and sentences), without the cost of a YAML emitter
    if isinstance(value, str):
        return _double_quoted(value)
    # Dumped inside a flow sequence so the scalar is also safe inside `{...}` and `[...]`, where `,`
    # and brackets are syntax; then the brackets come off.
    text = yaml.safe_dump([value], default_flow_style=True, allow_unicode=True, width=1 << 30).strip()
    return text[1:-1]


def make_environment(directory: Path) -> ImmutableSandboxedEnvironment:
    """The Jinja2 environment every campaign template and variant name pattern runs in."""
    env = ImmutableSandboxedEnvironment(
        loader=CampaignLoader(directory),
        undefined=StrictUndefined,
        keep_trailing_newline=True,  # the rendered storyboard is a file; keep its last newline
        autoescape=False,  # YAML, not HTML
    )
    env.filters["yaml"] = yaml_scalar
    return env


@dataclass(frozen=True)
class TemplateFailure:
    """Why a template could not render, and where: ``file`` is absolute (None: the string template)."""

    file: str | None
    line: int
    message: str


def _template_frame(exc: BaseException, files: set[str]) -> tuple[str | None, int]:
    """The innermost traceback frame that belongs to a template (Jinja maps them to template lines)."""
    found: tuple[str | None, int] = (None, 1)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename in files or frame.filename == "<template>":
            found = (None if frame.filename == "<template>" else frame.filename, frame.lineno or 1)
    return found


def _undefined_hint(message: str, context: Mapping[str, Any]) -> str:
    if not (message.startswith("'") and message.endswith("' is undefined")):
        return ""
    name = message[1:-len("' is undefined")]
    names = sorted(k for k in context if not k.startswith("_"))
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f"; variables: {', '.join(names)}" if names else ""


def describe(exc: BaseException, context: Mapping[str, Any]) -> str:
    """A template exception in words; the location is reported separately."""
    if isinstance(exc, TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    if isinstance(exc, SecurityError):
        text = str(exc)
        if "unsafe" in text:
            return (f"{text}: the template sandbox allows variables, filters and tests only, "
                    "not Python internals")
        return text
    if isinstance(exc, TemplateNotFound):
        return f"included template {exc.message or exc.name}"
    if isinstance(exc, UndefinedError):
        return f"{exc.message}{_undefined_hint(exc.message or '', context)}"
    if isinstance(exc, RecursionError):
        return "templates include each other endlessly"
    if isinstance(exc, (_TooLong, MemoryError)):
        return str(exc) or "the template needs more memory than a storyboard can (a huge loop?)"
    return f"{type(exc).__name__}: {exc}"


# A template is code: bound what one render may take, so a loop typo cannot hang every CI run.
MAX_OUTPUT = 8 << 20  # characters, the size limit of a storyboard file
MAX_SECONDS = 20.0


class _TooLong(Exception):
    """A template render ran past MAX_SECONDS or produced more than MAX_OUTPUT characters."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the render after ``seconds`` (only where signals work: the main thread on Unix)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _TooLong(f"the template ran for more than {seconds:g} s (an endless or huge loop?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _bounded(compiled: Template, context: Mapping[str, Any]) -> str:
    chunks, size = [], 0
    with _deadline(MAX_SECONDS):
        for chunk in compiled.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise _TooLong(f"the template produced more than {MAX_OUTPUT >> 20} M characters; a storyboard "
                               "is far smaller (an endless or huge loop?)")
            chunks.append(chunk)
    return "".join(chunks)


def render(
    env: ImmutableSandboxedEnvironment, template: str | Template, context: Mapping[str, Any]
) -> str | TemplateFailure:
    """Render a template (by name, or already compiled) with ``context``; text, or where and why it failed."""
    loader = env.loader
    files = loader.files if isinstance(loader, CampaignLoader) else set()
    try:
        compiled = env.get_template(template) if isinstance(template, str) else template
        return _bounded(compiled, context)
    except TemplateSyntaxError as exc:
        # The file is the one with the error, which may be an included one.
        filename = exc.filename if exc.filename and exc.filename in files else None
        return TemplateFailure(filename, exc.lineno or 1, describe(exc, context))
    except Exception as exc:  # noqa: BLE001 - a template is user code; any failure is the user's to fix
        filename, line = _template_frame(exc, files)
        return TemplateFailure(filename, line, describe(exc, context))
