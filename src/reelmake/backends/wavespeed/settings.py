"""``backends.wavespeed``: the settings a storyboard may give the WaveSpeed backend (none are secret,
and none says where requests go: the endpoint comes from the catalog or ``WAVESPEED_BASE_URL``), and
the account tiers whose limits the backend paces itself by.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

# WaveSpeed's account levels (https://wavespeed.ai/docs/account-levels, "Account Levels & Rate Limits",
# as read for issue 11): videos per minute ("the maximum number of generations you can start per
# minute") and concurrency ("how many tasks can run at the same time"). Bronze is the default for new
# accounts; Silver, Gold and Ultra follow one-time top-ups of $100, $1,000 and $10,000. An older version
# of the page said Bronze 5/min and 3 at once: these figures move, so they are data, and `max_concurrency`
# and `rate_limit` override them for an account whose limits differ (enterprise, a changed page).
TIERS: dict[str, dict[str, Any]] = {
    "bronze": {"max_concurrency": 2, "rate_limit": {"submits": 2, "per": 60}},
    "silver": {"max_concurrency": 300, "rate_limit": {"submits": 500, "per": 60}},
    "gold": {"max_concurrency": 3000, "rate_limit": {"submits": 3000, "per": 60}},
    "ultra": {"max_concurrency": 10000, "rate_limit": {"submits": 5000, "per": 60}},
}
DEFAULT_TIER = "bronze"
TIERS_SOURCE = "https://wavespeed.ai/docs/account-levels"

_SECONDS = {"type": "number", "exclusiveMinimum": 0}

SCHEMA: dict[str, Any] = {
    "title": "WaveSpeed settings",
    "description": "Non-secret settings for the WaveSpeed backend. The API key comes from WAVESPEED_API_KEY and "
                   "the endpoint from the catalog (or WAVESPEED_BASE_URL), never from a storyboard.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "tier": {"enum": sorted(TIERS),
                 "description": f"Your WaveSpeed account level ({TIERS_SOURCE}); sets how many tasks run at once "
                                "and how many start per minute: "
                                + "; ".join(f"{name} {t['max_concurrency']} at once, {t['rate_limit']['submits']} "
                                            f"per minute" for name, t in TIERS.items())
                                + f". Default {DEFAULT_TIER}.",
                 "enumDescriptions": [f"{TIERS[name]['max_concurrency']} tasks at once, "
                                      f"{TIERS[name]['rate_limit']['submits']} starts per minute"
                                      for name in sorted(TIERS)]},
        "max_concurrency": {"type": "integer", "minimum": 1,
                            "description": "Tasks running at WaveSpeed at once (default: the tier's)."},
        "rate_limit": {
            "type": "object", "additionalProperties": False, "required": ["submits", "per"],
            "description": "At most `submits` task starts in any `per` seconds (default: the tier's videos per "
                           "minute).",
            "properties": {"submits": {"type": "integer", "minimum": 1,
                                       "description": "How many tasks may start in one window."},
                           "per": {**_SECONDS, "description": "The window, in seconds (60 for a per-minute limit)."}},
        },
        "timeout": {**_SECONDS, "description": "Seconds a shot may take before it is reported (default 1800)."},
        "poll_initial": {**_SECONDS, "description": "Seconds before the first poll (default 2)."},
        "poll_factor": {"type": "number", "minimum": 1, "description": "Growth of the poll interval (default 1.5)."},
        "poll_max": {**_SECONDS, "description": "Longest poll interval in seconds (default 10)."},
        "connect_timeout": {**_SECONDS, "description": "Seconds to wait for a connection (default 10)."},
        "read_timeout": {**_SECONDS, "description": "Seconds to wait for an answer to a poll or lookup (default 30)."},
        "submit_timeout": {**_SECONDS, "description": "Seconds to wait for the answer to a submit (default 60)."},
        "max_download_mb": {**_SECONDS, "description": "Refuse outputs larger than this many MiB (default 500)."},
        "rate_limit_backoff": {**_SECONDS, "description": "Seconds a poll or lookup waits after a 429 without "
                                                           "Retry-After (default 2, doubling)."},
        "retry_backoff": {**_SECONDS, "description": "First delay when repeating a poll, lookup or download "
                                                      "(default 0.5)."},
        "submit_attempts": {"type": "integer", "minimum": 1,
                            "description": "Tries for a submit that provably never reached WaveSpeed (default 5)."},
        "clock_skew": {"type": "number", "minimum": 0,
                       "description": "Seconds by which this machine's clock and WaveSpeed's may disagree, added "
                                      "around an ambiguous submit's time window in the history (default 120)."},
        "base_url": {"not": {}, "description": "Not a storyboard setting: set WAVESPEED_BASE_URL in your environment.",
                     "x-message": "endpoints never come from a storyboard (it would decide where your API key "
                                  "goes); set WAVESPEED_BASE_URL in your environment to use another endpoint"},
    },
}


def resolve(settings: Mapping[str, Any], base_dir: Path | None = None) -> dict[str, Any]:
    """The block with the tier's limits filled in where the storyboard does not set them itself."""
    resolved = dict(settings)
    tier = TIERS.get(str(resolved.get("tier", DEFAULT_TIER)), TIERS[DEFAULT_TIER])
    resolved.setdefault("tier", DEFAULT_TIER)
    resolved.setdefault("max_concurrency", tier["max_concurrency"])
    resolved.setdefault("rate_limit", dict(tier["rate_limit"]))
    return resolved
