"""``backends.wavespeed``: the settings a storyboard may give the WaveSpeed backend (none are secret,
and none says where requests go: the endpoint comes from the catalog or ``WAVESPEED_BASE_URL``)."""

from __future__ import annotations

from typing import Any

_SECONDS = {"type": "number", "exclusiveMinimum": 0}

SCHEMA: dict[str, Any] = {
    "title": "WaveSpeed settings",
    "description": "Non-secret settings for the WaveSpeed backend. The API key comes from WAVESPEED_API_KEY and "
                   "the endpoint from the catalog (or WAVESPEED_BASE_URL), never from a storyboard.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max_concurrency": {"type": "integer", "minimum": 1,
                            "description": "Tasks running at WaveSpeed at once (your account tier's limit)."},
        "timeout": {**_SECONDS, "description": "Seconds a shot may take before it is reported (default 1800)."},
        "poll_initial": {**_SECONDS, "description": "Seconds before the first poll (default 2)."},
        "poll_factor": {"type": "number", "minimum": 1, "description": "Growth of the poll interval (default 1.5)."},
        "poll_max": {**_SECONDS, "description": "Longest poll interval in seconds (default 10)."},
        "connect_timeout": {**_SECONDS, "description": "Seconds to wait for a connection (default 10)."},
        "read_timeout": {**_SECONDS, "description": "Seconds to wait for an answer to a poll or lookup (default 30)."},
        "submit_timeout": {**_SECONDS, "description": "Seconds to wait for the answer to a submit (default 60)."},
        "max_download_mb": {**_SECONDS, "description": "Refuse outputs larger than this many MiB (default 500)."},
        "rate_limit_backoff": {**_SECONDS, "description": "Seconds to pause all requests after a 429 without "
                                                           "Retry-After (default 2, doubling)."},
        "retry_backoff": {**_SECONDS, "description": "First delay when repeating a poll, lookup or download "
                                                      "(default 0.5)."},
        "submit_attempts": {"type": "integer", "minimum": 1,
                            "description": "Tries for a submit that provably never reached WaveSpeed (default 5)."},
        "base_url": {"not": {}, "description": "Not a storyboard setting: set WAVESPEED_BASE_URL in your environment.",
                     "x-message": "endpoints never come from a storyboard (it would decide where your API key "
                                  "goes); set WAVESPEED_BASE_URL in your environment to use another endpoint"},
    },
}
