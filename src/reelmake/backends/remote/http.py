"""HTTP plumbing every hosted-API backend shares: which URLs may be contacted, and ``Retry-After``.
Submit pacing (rate limits) lives in ``pacing``."""

from __future__ import annotations

import ipaddress
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from ...errors import BackendUnavailable


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """``url`` if it is https, or plain http to a loopback address; else BackendUnavailable."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return url
    raise BackendUnavailable(
        f"{what} {url!r} is not allowed: use an https:// URL (plain http:// only for a loopback address "
        "such as http://127.0.0.1:8000, e.g. a local test server)."
    )


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (either form the RFC allows), or None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
