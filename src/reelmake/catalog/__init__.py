"""The model catalog (limits, prices, endpoints) as data, and exact decimal pricing.

A model is offered by one or more hosts (the backend that runs it: ``wavespeed``, ``fal``, ``kling``,
or ``animatic``/``local`` for the free ones). ``models.yaml`` writes an entry's first offer with the
entry's own ``backend``/``endpoint``/``compiler``/``pricing`` (every entry had exactly one before hosts
existed) and further hosts under ``offers:``; an offer repeats only what differs from the model, and
its limits are merged over the model's. :class:`Model` is always one model *as one host offers it*.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Any

import yaml

MODES = ("base", "sound", "video", "image")  # per second of video (base, sound, video); per image (image)
KINDS = ("video", "image")


@dataclass(frozen=True)
class Model:
    """One catalog entry. ``raw`` keeps every figure for limits the code reads by name."""

    id: str
    backend: str  # the host that runs it
    label: str
    endpoint: str
    compiler: str
    rates: dict[str, Decimal]
    price_source: str
    price_confirmed: bool  # every rate confirmed at its source (see rate_confirmed for one mode)
    unconfirmed_modes: frozenset[str]  # rates the source does not show although it confirms the others
    default_for_backend: bool
    raw: dict[str, Any]
    hosts: tuple[str, ...] = ()  # every host that offers this model, the default first
    video_endpoint: str | None = None  # where a shot with a reference video goes, when that differs
    source_confirmed: bool = False  # the source confirms its rates, but for ``unconfirmed_modes``
    kind: str = "video"  # "video": renders shots; "image": generates reference images
    edit_endpoint: str | None = None  # image models: where a request with reference images goes, when that differs

    @property
    def host(self) -> str:
        return self.backend

    def endpoint_for(self, *, has_video: bool) -> str:
        """The endpoint one shot is sent to (some hosts take a reference video on a separate route)."""
        return self.video_endpoint if has_video and self.video_endpoint else self.endpoint

    def image_endpoint(self, *, has_refs: bool) -> str:
        """The endpoint one image is sent to (hosts take reference images on an "edit" route)."""
        return self.edit_endpoint if has_refs and self.edit_endpoint else self.endpoint

    def limit(self, *path: str, default: Any = None) -> Any:
        node: Any = self.raw
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def rate_confirmed(self, mode: str) -> bool:
        """Whether the rate of ``mode`` (base, sound, video) was confirmed at the price source."""
        return self.price_confirmed or (self.source_confirmed and mode not in self.unconfirmed_modes)

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


def image_price(model: Model) -> Decimal:
    """Exact cost of one generated image."""
    return model.rates["image"]


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

# Offer keys that describe the offer itself; every other key of an offer overrides a model limit.
_OFFER_KEYS = ("backend", "endpoint", "video_endpoint", "edit_endpoint", "compiler", "pricing", "default_for_backend",
               "label", "offers")


def register_model(model_id: str, entry: dict[str, Any]) -> None:
    """Add a catalog entry at run time (plugin backends, tests); same fields as models.yaml."""
    _REGISTERED[model_id] = entry
    load_offers.cache_clear()


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _offer(model_id: str, host: str, entry: dict[str, Any], offer: dict[str, Any], hosts: tuple[str, ...]) -> Model:
    limits = {k: v for k, v in entry.items() if k not in _OFFER_KEYS}
    raw = _merge(limits, {k: v for k, v in offer.items() if k not in _OFFER_KEYS})
    pricing = offer.get("pricing", {})
    return Model(
        id=model_id,
        backend=host,
        label=offer.get("label") or entry.get("label", model_id),
        endpoint=offer["endpoint"],
        compiler=offer["compiler"],
        rates={mode: Decimal(str(pricing.get("rates", {}).get(mode, "0")))
               for mode in (("image",) if entry.get("kind") == "image" else MODES[:3])},
        price_source=pricing.get("source", ""),
        price_confirmed=bool(pricing.get("confirmed", False)) and not pricing.get("unconfirmed"),
        unconfirmed_modes=frozenset(pricing.get("unconfirmed") or ()),
        source_confirmed=bool(pricing.get("confirmed", False)),
        default_for_backend=bool(offer.get("default_for_backend", False)),
        raw=raw,
        hosts=hosts,
        video_endpoint=offer.get("video_endpoint"),
        kind=str(entry.get("kind", "video")),
        edit_endpoint=offer.get("edit_endpoint"),
    )


@cache
def load_offers() -> dict[str, dict[str, Model]]:
    """model id → host → the model as that host offers it (the default host first)."""
    text = resources.files(__package__).joinpath("models.yaml").read_text(encoding="utf-8")
    catalog: dict[str, dict[str, Model]] = {}
    for model_id, entry in {**yaml.safe_load(text), **_REGISTERED}.items():
        offers: dict[str, dict[str, Any]] = {}
        if "backend" in entry:  # the entry's own fields are its first offer
            offers[entry["backend"]] = {k: entry[k] for k in _OFFER_KEYS if k in entry and k != "offers"}
        offers.update(entry.get("offers") or {})
        hosts = tuple(offers)
        catalog[model_id] = {host: _offer(model_id, host, entry, offer, hosts) for host, offer in offers.items()}
    return catalog


def load_catalog() -> dict[str, Model]:
    """model id → the model as its default host offers it."""
    return {model_id: next(iter(offers.values())) for model_id, offers in load_offers().items() if offers}


def get_model(model_id: str, host: str | None = None) -> Model | None:
    """The model as ``host`` offers it (its default host when None); None when not offered there."""
    offers = load_offers().get(model_id) or {}
    if host is None:
        return next(iter(offers.values()), None)
    return offers.get(host)


def offers_of(model_id: str) -> dict[str, Model]:
    """Every host's offer of ``model_id``, the default host first."""
    return dict(load_offers().get(model_id) or {})


def hosts_for(model_id: str) -> list[str]:
    return list(load_offers().get(model_id) or {})


def default_model(backend: str, kind: str = "video") -> Model | None:
    """The model a shot (``kind`` "video") or a generated image ("image") gets when it names a host but
    no model."""
    candidates = [offers[backend] for offers in load_offers().values()
                  if backend in offers and offers[backend].kind == kind]
    for model in candidates:
        if model.default_for_backend:
            return model
    return candidates[0] if candidates else None


def models_for(backend: str, kind: str | None = None) -> list[str]:
    """The models ``backend`` offers (of ``kind`` when given)."""
    return [model_id for model_id, offers in load_offers().items()
            if backend in offers and (kind is None or offers[backend].kind == kind)]
