"""Backend registry: name -> factory. Built-ins are imported lazily so the core never imports
httpx clients or torch unless a storyboard asks for that backend."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BackendUnavailable
from .base import (
    FILE_REF_PREFIX,
    Backend,
    InputFile,
    LocalBackend,
    RemoteBackend,
    RenderJob,
    StatusCallback,
    TaskOutput,
    file_ref,
    is_file_ref,
)

BackendFactory = Callable[[Mapping[str, Any]], Backend]

_BUILTIN: dict[str, str] = {
    "animatic": "reelmake.backends.animatic:AnimaticBackend",
    "wavespeed": "reelmake.backends.wavespeed:WaveSpeedBackend",
    "local": "reelmake.backends.local_wan:LocalWanBackend",
}
_REGISTERED: dict[str, BackendFactory] = {}


def register(name: str, factory: BackendFactory) -> None:
    """Register a backend factory (plugins, tests). ``factory(settings)`` returns a backend."""
    _REGISTERED[name] = factory


def unregister(name: str) -> None:
    _REGISTERED.pop(name, None)


def known_backends() -> list[str]:
    return sorted({*_BUILTIN, *_REGISTERED})


def create_backend(name: str, settings: Mapping[str, Any] | None = None) -> Backend:
    """Instantiate backend ``name`` with the storyboard's ``backends.<name>`` settings."""
    settings = dict(settings or {})
    if name in _REGISTERED:
        return _REGISTERED[name](settings)
    target = _BUILTIN.get(name)
    if target is None:
        raise BackendUnavailable(f"unknown backend {name!r}; known: {', '.join(known_backends())}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise BackendUnavailable(f"backend {name!r} is not available yet in this version") from exc
        raise
    return getattr(module, attr)(settings)


__all__ = [
    "FILE_REF_PREFIX",
    "Backend",
    "BackendFactory",
    "InputFile",
    "LocalBackend",
    "RemoteBackend",
    "RenderJob",
    "StatusCallback",
    "TaskOutput",
    "create_backend",
    "file_ref",
    "is_file_ref",
    "known_backends",
    "register",
    "unregister",
]
