"""What a WaveSpeed account may do: the tier's limits, and which uploads are accepted.

Sources:
- [levels] https://wavespeed.ai/docs/account-levels ("Account Levels & Rate Limits"), current version:
  Bronze 2 videos/min and 2 at once (default for new users), Silver 500/min and 300 at once (one-time
  $100 top-up), Gold 3,000/min and 3,000, Ultra 5,000/min and 10,000. "Videos/min: the maximum number
  of generations you can start per minute"; "Concurrency: how many tasks can run at the same time …
  if you submit a 3rd, it will wait until one finishes". An older version of the same page said
  Bronze 5 videos/min and 3 at once; the fake follows the current one.
- [uploads] https://wavespeed.ai/docs/upload-files and /docs/upload-files-api: images 20 MB, videos
  100 MB, audio 50 MB; formats JPG JPEG PNG WebP GIF BMP TIFF / MP4 AVI MOV WMV FLV WebM MKV 3GP OGV /
  MP3 WAV OGG AAC FLAC WebM M4A Opus; 400 "invalid file or format not supported", 413 "file too large".

Silent in the documentation, so decided in the direction that costs the user money or time:
- The per-minute limit is a sliding window (never more than N task starts in any `window` seconds),
  counting every task created, failed ones included; a refused submit creates nothing and its 429
  carries no Retry-After (none is documented).
- Whether the concurrency limit queues or refuses: the page says a task over the limit waits, so
  "queue" is the default; "reject" answers 429 instead, for tests that prove a client never relies on
  the provider's queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Tier:
    videos: int  # task starts per window [levels]
    concurrency: int  # tasks running at once [levels]


TIERS = {
    "bronze": Tier(videos=2, concurrency=2),
    "silver": Tier(videos=500, concurrency=300),
    "gold": Tier(videos=3000, concurrency=3000),
    "ultra": Tier(videos=5000, concurrency=10000),
}

MB = 1024 * 1024
UPLOAD_KINDS = {  # [uploads]: extension → (kind, size limit)
    **dict.fromkeys(("jpg", "jpeg", "png", "webp", "gif", "bmp", "tiff", "tif"), ("image", 20 * MB)),
    **dict.fromkeys(("mp4", "avi", "mov", "wmv", "flv", "mkv", "3gp", "ogv"), ("video", 100 * MB)),
    **dict.fromkeys(("mp3", "wav", "ogg", "aac", "flac", "m4a", "opus"), ("audio", 50 * MB)),
    "webm": ("video", 100 * MB),  # listed as both video and audio: the larger limit would be kind
}


def upload_kind(filename: str) -> tuple[str, int] | None:
    """(kind, byte limit) for a file name, or None when the format is not supported."""
    return UPLOAD_KINDS.get(PurePosixPath(filename).suffix.lower().lstrip("."))


class Limits:
    """One account's tier with its minute compressed to ``window`` seconds (tests run Bronze in 1 s)."""

    def __init__(self, tier: str | Tier = "bronze", *, window: float = 60.0, over_concurrency: str = "queue") -> None:
        if over_concurrency not in ("queue", "reject"):
            raise ValueError("over_concurrency must be 'queue' or 'reject'")
        self.tier = TIERS[tier] if isinstance(tier, str) else tier
        self.window = float(window)
        self.over_concurrency = over_concurrency

    def rate_allows(self, now: float, started: list[float]) -> bool:
        """Whether one more task may start now, given every task's creation time (sliding window)."""
        return sum(1 for t in started if now - self.window < t <= now) < self.tier.videos

    def start_time(self, now: float, finishes: list[float]) -> float | None:
        """When a task created now gets a slot, given when every earlier task finishes; None when the
        account is at its limit and over-concurrency is refused."""
        unfinished = sorted(f for f in finishes if f > now)
        if len(unfinished) < self.tier.concurrency:
            return now
        if self.over_concurrency == "reject":
            return None
        # Tasks start in order: this one waits until all but concurrency-1 of those ahead have finished.
        return unfinished[len(unfinished) - self.tier.concurrency]
