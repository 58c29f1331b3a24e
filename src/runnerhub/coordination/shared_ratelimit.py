"""Rate limits shared by the server instances on one PostgreSQL, at no cost to requests.

Each instance counts in memory, as `MemoryRateLimiter` does, and a thread of its own adds
what it counted to the table `rate_limits` every `rate_limit_sync_seconds` (1 s), in one
statement that also reads back every instance's totals for the keys this instance used in
the last minute (storage/rate_limits.py). A request spends from what the instance knows:
the shared total as of the last sync, plus its own spends since. The first request of a key
an instance has not seen (or not for a minute) reads the key's total first, once.

The bound: an instance's view of a key is at most one sync period old, so a budget can be
overspent by what the other instances let through in one period (at most instances x one
second of that caller's traffic), and `x-ratelimit-remaining` may lag the true count by as
much. A sync that fails keeps its counts and adds them at the next one. The window of a key
is the one the table holds (it starts with the first request anywhere), so every instance
answers the same `x-ratelimit-reset`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import anyio.to_thread

from runnerhub.coordination.ratelimit import WINDOW_SECONDS, Budget
from runnerhub.storage import rate_limits
from runnerhub.storage.database import Database
from runnerhub.storage.rate_limits import Count

log = logging.getLogger(__name__)

FORGET_AFTER = 60  # syncs a key is kept (and synced) since it was last used here
PRUNE_EVERY = 300.0  # seconds between deletions of windows that ended an hour ago


@dataclass(slots=True)
class _Window:
    resets_at: int
    shared: int  # every instance's count, as last read (this one's synced spends included)
    mine: int  # spent here since (refunds subtract), not yet added to the table
    used_in: int  # the sync round (SharedRateLimiter.rounds) of its last request here

    @property
    def used(self) -> int:
        return max(self.shared + self.mine, 0)


def _spend(window: _Window, limit: int) -> tuple[Budget, bool]:
    used = window.used
    if used >= limit:
        return Budget(limit, used, window.resets_at), False
    window.mine += 1
    return Budget(limit, used + 1, window.resets_at), True


class SharedRateLimiter:
    """A RateLimiter (coordination/ratelimit.py) and a Service (start/stop: the sync thread)."""

    def __init__(self, db: Database, *, sync_seconds: float = 1.0) -> None:
        self.db = db
        self.sync_seconds = sync_seconds
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self._now = 0.0  # the latest `now` a caller gave (the server's clock, which tests move)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = 0.0
        self.rounds = 0  # syncs done: a clock for forgetting idle keys, cheaper than time

    # -- RateLimiter

    def peek(self, key: str, limit: int, now: float) -> Budget:
        with self._lock:
            window = self._known(key, now)
            if window is not None:
                return Budget(limit, window.used, window.resets_at)
        window = self._first_sight(key, now)
        with self._lock:
            return Budget(limit, window.used, window.resets_at)

    def spend(self, key: str, limit: int, now: float) -> tuple[Budget, bool]:
        with self._lock:
            window = self._known(key, now)
            if window is not None:
                return _spend(window, limit)
        window = self._first_sight(key, now)
        with self._lock:
            return _spend(window, limit)

    def refund(self, key: str) -> None:
        with self._lock:
            window = self._windows.get(key)
            if window is not None and window.used > 0:
                window.mine -= 1

    def _known(self, key: str, now: float) -> _Window | None:
        """The key's window if this instance knows it (under the lock)."""
        if now > self._now:
            self._now = now
        window = self._windows.get(key)
        if window is not None:
            window.used_in = self.rounds
            if window.resets_at <= now:  # over: a new one, until the table says otherwise
                window.resets_at, window.shared, window.mine = int(now) + WINDOW_SECONDS, 0, 0
        return window

    def _first_sight(self, key: str, now: float) -> _Window:
        """Read the key's count, once (outside the lock: a round trip)."""
        count = self.db.read(lambda conn: rate_limits.read(conn, key))
        with self._lock:
            window = self._windows.get(key)  # another thread may have read it meanwhile
            if window is None:
                window = _Window(int(now) + WINDOW_SECONDS, 0, 0, self.rounds)
                if count is not None and count.resets_at > now:
                    window.resets_at, window.shared = count.resets_at, count.used
                self._windows[key] = window
            return window

    # -- Service

    async def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._sync_forever, name="rate-limit sync",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            await anyio.to_thread.run_sync(self._thread.join, 10)
            self._thread = None
        try:
            self.sync()  # what was counted since the last sync is not lost
        except Exception:
            log.exception("rate-limit sync failed at stop")

    def _sync_forever(self) -> None:
        while not self._stopping.wait(self.sync_seconds):
            try:
                self.sync()
            except Exception:
                log.exception("rate-limit sync failed; its counts go with the next one")

    # -- syncing

    def sync(self) -> None:
        """Add this instance's counts to the table and read back the totals."""
        sent = self._outgoing()
        if not sent:
            return
        now = int(self._now)
        totals = self.db.write(lambda conn: rate_limits.sync(conn, sent, now))
        by_key = {count.key: count for count in totals}
        with self._lock:
            for count in sent:
                window = self._windows.get(count.key)
                if window is None or window.resets_at != count.resets_at:
                    continue  # the window ended here meanwhile: the next sync sorts it out
                window.mine -= count.used
                total = by_key.get(count.key)
                if total is None:
                    window.shared = 0  # no row: nobody has spent from the key (or it was pruned)
                elif total.resets_at > now:
                    window.resets_at, window.shared = total.resets_at, total.used
        if time.monotonic() - self._pruned_at > PRUNE_EVERY:
            self._pruned_at = time.monotonic()
            self.db.write(lambda conn: rate_limits.prune(conn, now - WINDOW_SECONDS))

    def _outgoing(self) -> list[Count]:
        """What to send: every key used here in the last minute (FORGET_AFTER syncs), with
        its unsent count; keys idle longer, with nothing unsent, are forgotten (read again
        when next used)."""
        with self._lock:
            self.rounds += 1
            idle = self.rounds - FORGET_AFTER
            for key in [k for k, w in self._windows.items() if w.used_in < idle]:
                if self._windows[key].mine == 0:
                    del self._windows[key]
            return sorted(Count(k, w.resets_at, w.mine) for k, w in self._windows.items())
