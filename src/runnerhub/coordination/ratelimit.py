"""GitHub's hourly budgets: REST calls per user when authenticated, per address otherwise;
failed logins per address.

`MemoryRateLimiter` counts in this process. Several server instances each count on their own;
sharing the counts across instances is a PostgreSQL implementation of `RateLimiter`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

WINDOW_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Budget:
    limit: int
    used: int
    reset: int  # epoch seconds when the window starts over

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-resource": "core",
        }


class RateLimiter(Protocol):
    def peek(self, key: str, limit: int, now: float) -> Budget:
        """The budget as it stands, counting nothing."""

    def spend(self, key: str, limit: int, now: float) -> tuple[Budget, bool]:
        """Count one unit; False (and nothing counted) when the budget is exhausted."""

    def refund(self, key: str) -> None:
        """Give back the last unit spent (a 304 revalidation costs nothing, as on GitHub)."""


class MemoryRateLimiter:
    """Fixed hourly windows per key, in this process."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}  # key -> (reset, used)
        self._lock = threading.Lock()

    def peek(self, key: str, limit: int, now: float) -> Budget:
        with self._lock:
            reset, used = self._current(key, now)
            return Budget(limit, used, reset)

    def spend(self, key: str, limit: int, now: float) -> tuple[Budget, bool]:
        with self._lock:
            reset, used = self._current(key, now)
            if used >= limit:
                return Budget(limit, used, reset), False
            self._windows[key] = (reset, used + 1)
            return Budget(limit, used + 1, reset), True

    def refund(self, key: str) -> None:
        with self._lock:
            window = self._windows.get(key)
            if window is not None and window[1] > 0:
                self._windows[key] = (window[0], window[1] - 1)

    def _current(self, key: str, now: float) -> tuple[int, int]:
        window = self._windows.get(key)
        if window is None or window[0] <= now:
            window = (int(now) + WINDOW_SECONDS, 0)
            self._windows[key] = window
        return window
