"""API keys and endpoints from the environment, checked before anything is uploaded or spent."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

from ...errors import BackendUnavailable


def read_key(variable: str, where_to_get: str, shots: int) -> str:
    """The value of ``variable``, stripped; BackendUnavailable naming it (never echoing it) otherwise."""
    key = os.environ.get(variable, "").strip()
    if not key:
        raise BackendUnavailable(
            f"{variable} is not set. Get it from {where_to_get} and export it (export {variable}=...); reelmake "
            f"reads keys from the environment only. {shots} shot(s) need it; nothing was uploaded or submitted."
        )
    if not (key.isascii() and key.isprintable()) or any(ch.isspace() for ch in key):
        # Never echo it: a key with a stray newline would otherwise end up in an error message.
        raise BackendUnavailable(
            f"{variable} contains characters a key cannot have (spaces, line breaks, control or non-ASCII "
            "characters); copy it again. Nothing was uploaded or submitted."
        )
    return key


def poll_delays(initial: float, factor: float, maximum: float) -> Iterator[float]:
    """Seconds to sleep before each poll: ``initial`` growing by ``factor`` up to ``maximum``.

    With the defaults (2, 1.5, 10) a task is polled at 2, 5, 9.5, 16.25, 26.25 s and then every 10 s:
    a 60 s task costs 9 polls and is noticed at most 10 s late.
    """
    delay = initial
    while True:
        yield delay
        delay = min(delay * factor, maximum)


def account_fingerprint(secret: str, salt: bytes) -> str:
    """A slow, salted, one-way digest of an account's key (and endpoint): another machine holding the
    same key computes the same digest from the salt and so knows it may poll this account's tasks,
    while nothing in the digest lets anyone recover or test guesses of the key cheaply."""
    return hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32).hex()
