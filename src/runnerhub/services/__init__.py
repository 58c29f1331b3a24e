"""Work the server does in the background, beside requests: each a `Service` with `start`
and `stop`, started and stopped together by the app's lifespan (see `Services`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Services:
    """Started in order, stopped in reverse."""

    def __init__(self, services: Sequence[Service]) -> None:
        self.services = list(services)

    async def start(self) -> None:
        for service in self.services:
            await service.start()

    async def stop(self) -> None:
        for service in reversed(self.services):
            await service.stop()


def call_on(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Run `callback` on `loop`: now, when called on it; soon, from another thread (a commit
    of the CLI or of a worker thread)."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        callback()
    else:
        loop.call_soon_threadsafe(callback)
