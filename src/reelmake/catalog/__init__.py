"""The model catalog (limits, prices, endpoints) as data, and exact decimal pricing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Any

import yaml

MODES = ("base", "sound", "video")


@dataclass(frozen=True)
class Model:
    """One catalog entry. ``raw`` keeps every figure for limits the code reads by name."""

    id: str
    backend: str
    label: str
    endpoint: str
    compiler: str
    rates: dict[str, Decimal]
    price_source: str
    price_confirmed: bool  # every rate confirmed at its source
    unconfirmed_modes: frozenset[str]
    default_for_backend: bool
    raw: dict[str, Any]

    def limit(self, *path: str, default: Any = None) -> Any:
        node: Any = self.raw
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def rate_confirmed(self, mode: str) -> bool:
        """Whether the rate of ``mode`` (base, sound, video) was confirmed at the price source."""
        return self.price_confirmed or (bool(self.raw.get("pricing", {}).get("confirmed"))
                                        and mode not in self.unconfirmed_modes)

    def feature(self, name: str) -> bool:
        return bool(self.limit("features", name, default=False))

    def size_for(self, aspect_ratio: str) -> tuple[int, int] | None:
        size = self.limit("sizes", aspect_ratio)
        if not size:
            return None
        width, height = str(size).split("x")
        return int(width), int(height)

    def duration_ok(self, seconds: float) -> bool:
        lo, hi = self.limit("durations", "min", default=0), self.limit("durations", "max", default=1e9)
        if self.limit("durations", "integer") and float(seconds) != int(seconds):
            return False
        return lo <= seconds <= hi

    def duration_rule(self) -> str:
        lo, hi = self.limit("durations", "min"), self.limit("durations", "max")
        whole = "whole seconds " if self.limit("durations", "integer") else ""
        return f"{whole}from {lo} to {hi} s"


def price(model: Model, mode: str, duration: float | Decimal) -> Decimal:
    """Exact cost of one render: rate for the mode × seconds, never rounded here."""
    return model.rates[mode] * Decimal(str(duration))


def pricing_mode(*, has_video: bool, sound: bool) -> str:
    """A reference video sets the rate regardless of sound (the model ignores sound then)."""
    if has_video:
        return "video"
    return "sound" if sound else "base"


def money(amount: Decimal) -> str:
    """Display form: dollars rounded half-up to the cent (exact values stay in JSON and the lock)."""
    return f"${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


def money_json(amount: Decimal) -> str:
    """JSON form: a decimal string with at least three places, as the SPEC's examples ("0.420")."""
    text = f"{amount.normalize():f}"
    whole, _, frac = text.partition(".")
    return f"{whole}.{(frac + '000')[:max(3, len(frac))]}"


_REGISTERED: dict[str, dict[str, Any]] = {}


def register_model(model_id: str, entry: dict[str, Any]) -> None:
    """Add a catalog entry at run time (plugin backends, tests); same fields as models.yaml."""
    _REGISTERED[model_id] = entry
    load_catalog.cache_clear()


@cache
def load_catalog() -> dict[str, Model]:
    text = resources.files(__package__).joinpath("models.yaml").read_text(encoding="utf-8")
    models: dict[str, Model] = {}
    for model_id, entry in {**yaml.safe_load(text), **_REGISTERED}.items():
        pricing = entry.get("pricing", {})
        models[model_id] = Model(
            id=model_id,
            backend=entry["backend"],
            label=entry.get("label", model_id),
            endpoint=entry["endpoint"],
            compiler=entry["compiler"],
            rates={mode: Decimal(str(pricing.get("rates", {}).get(mode, "0"))) for mode in MODES},
            price_source=pricing.get("source", ""),
            price_confirmed=bool(pricing.get("confirmed", False)) and not pricing.get("unconfirmed"),
            unconfirmed_modes=frozenset(pricing.get("unconfirmed") or ()),
            default_for_backend=bool(entry.get("default_for_backend", False)),
            raw=entry,
        )
    return models


def get_model(model_id: str) -> Model | None:
    return load_catalog().get(model_id)


def default_model(backend: str) -> Model | None:
    """The model a shot gets when it names a backend but no model."""
    candidates = [m for m in load_catalog().values() if m.backend == backend]
    for model in candidates:
        if model.default_for_backend:
            return model
    return candidates[0] if candidates else None


def models_for(backend: str) -> list[str]:
    return [m.id for m in load_catalog().values() if m.backend == backend]
