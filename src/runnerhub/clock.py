"""The server's clock: the system's, plus an offset only tests move.

Everything the server decides by time (token expiry, runner liveness, rate-limit windows,
the sweeps that remove stale runners and fail lost jobs) reads `now()`. With
RUNNERHUB_TESTING=true, `POST /_runnerhub/testing/clock` moves it forward (runnerhub.testing),
so a test sees a token expire or a runner go offline without sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    return datetime.now(UTC) + _offset


def advance(by: timedelta) -> datetime:
    """Move the clock forward (never back: what was recorded stays in the past)."""
    global _offset
    if by < timedelta(0):
        raise ValueError("the clock only moves forward")
    _offset += by
    return now()


def offset() -> timedelta:
    """How far the clock has been moved."""
    return _offset


def follow(moved: timedelta) -> None:
    """Take another process's offset (the webhook worker follows the server's clock)."""
    global _offset
    _offset = max(_offset, moved)
