"""Whether a runner is online is derived when it is read, never stored."""

from __future__ import annotations

from datetime import datetime, timedelta


def status(last_seen_at: datetime | None, now: datetime, window: timedelta) -> str:
    if last_seen_at is not None and now - last_seen_at < window:
        return "online"
    return "offline"
