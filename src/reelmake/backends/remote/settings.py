"""The settings schema every hosted backend shares (``backends.<name>`` in a storyboard).

None of them is secret, and none says where requests go: keys and endpoints come from the
environment only, so a storyboard can never send a key somewhere else.
"""

from __future__ import annotations

from typing import Any

_SECONDS = {"type": "number", "exclusiveMinimum": 0}


def hosted_schema(title: str, key_env: str, base_url_env: str) -> dict[str, Any]:
    return {
        "title": f"{title} settings",
        "description": f"Non-secret settings for the {title} backend. The key comes from {key_env} and the endpoint "
                       f"from the catalog (or {base_url_env}), never from a storyboard.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "max_concurrency": {"type": "integer", "minimum": 1,
                                "description": f"Tasks running at {title} at once (your account's limit)."},
            "timeout": {**_SECONDS, "description": "Seconds a shot may take before it is reported (default 1800)."},
            "poll_initial": {**_SECONDS, "description": "Seconds before the first poll (default 2)."},
            "poll_factor": {"type": "number", "minimum": 1, "description": "Growth of the poll interval (default 1.5)."},
            "poll_max": {**_SECONDS, "description": "Longest poll interval in seconds (default 10)."},
            "connect_timeout": {**_SECONDS, "description": "Seconds to wait for a connection (default 10)."},
            "read_timeout": {**_SECONDS, "description": "Seconds to wait for an answer to a poll (default 30)."},
            "submit_timeout": {**_SECONDS, "description": "Seconds to wait for the answer to a submit (default 60)."},
            "max_download_mb": {**_SECONDS, "description": "Refuse outputs larger than this many MiB (default 500)."},
            "retry_backoff": {**_SECONDS, "description": "First delay when repeating a poll, lookup or download "
                                                          "(default 0.5)."},
            "base_url": {"not": {}, "description": "Not a storyboard setting.",
                         "x-message": "endpoints never come from a storyboard (it would decide where your API key "
                                      f"goes); set {base_url_env} in your environment to use another endpoint"},
        },
    }
