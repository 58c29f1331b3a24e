"""Runner keys made ahead of time by one background thread, for JIT configs."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable

import anyio.to_thread

from runnerhub.domain.keys import RunnerKey

log = logging.getLogger(__name__)


class KeyPool:
    """Runner keys made ahead of time by one background thread, each handed out once.

    A JIT config carries a fresh RSA-2048 private key, and making one costs about 40 ms of CPU
    (OpenSSL releases the GIL meanwhile). The pool lets a burst of JIT configs, such as an
    autoscaler scaling up, be answered at database speed. Once it is empty, each request makes
    its own key, so the sustained rate stays bounded by key generation: about 20 per second
    per core. The keys live only in this process's memory.
    """

    def __init__(self, size: int, make: Callable[[], RunnerKey] = RunnerKey.generate) -> None:
        self.size = size
        self._make = make
        self._keys: deque[RunnerKey] = deque()
        self._wanted = threading.Event()
        self._stopping = False
        self._ran_dry = False
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def take(self) -> RunnerKey | None:
        """A key from the pool, or None when it is empty."""
        try:
            key = self._keys.popleft()
        except IndexError:
            key = None
            if self.size > 0 and not self._ran_dry:
                self._ran_dry = True
                log.warning("runner key pool ran dry: JIT configs now wait for key generation")
        self._wanted.set()
        return key

    def put_back(self, key: RunnerKey) -> None:
        """Return a key that was never stored nor sent: its request was refused."""
        if len(self._keys) < self.size:
            self._keys.appendleft(key)

    async def start(self) -> None:
        if self.size > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._fill, name="runner-key-pool", daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        if self._thread is not None:
            # At most one key generation to finish.
            await anyio.to_thread.run_sync(self._thread.join, 5)
            self._thread = None

    def _fill(self) -> None:
        _yield_cpu_to_requests()
        announced = False
        while not self._stopping:
            self._wanted.clear()  # before the check, so a take() after it wakes the wait
            if len(self._keys) < self.size:
                # Announce the next full pool only after a burst took half of it.
                announced = announced and len(self._keys) >= self.size // 2
                self._keys.append(self._make())
                continue
            if not announced:
                log.info("runner key pool full: %d keys", self.size)
                announced, self._ran_dry = True, False
            self._wanted.wait()


def _yield_cpu_to_requests() -> None:
    """Lowest CPU priority for the calling thread, so refilling never slows serving.

    Linux keeps a nice value per thread; elsewhere the call would renice the whole process,
    so it is made on Linux only.
    """
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
