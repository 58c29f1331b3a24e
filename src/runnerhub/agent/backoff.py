"""How long to wait before trying the server again."""

from __future__ import annotations

import random
import time


class Backoff:
    """Exponential with jitter, capped: 1 s, 2 s, 4 s ... up to `cap`."""

    def __init__(self, cap: float) -> None:
        self.cap, self.attempt = cap, 0

    def sleep(self) -> None:
        delay = min(self.cap, 2.0**self.attempt) * random.uniform(0.5, 1.0)
        self.attempt += 1
        time.sleep(delay)

    def reset(self) -> None:
        self.attempt = 0
