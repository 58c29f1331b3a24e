"""Where long polls wait, without holding a database connection."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from runnerhub.domain.events import RunnerEvent


class Mailboxes(Protocol):
    async def wait(self, session_id: str, timeout: float) -> bool:
        """Wait until the session is woken (True) or `timeout` passes (False)."""

    def wake(self, session_id: str) -> None:
        """Answer the session's pending long poll now, if it has one."""


class MemoryMailboxes:
    """Long polls of this process, by session. Call `wake` on the event loop's thread."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def __len__(self) -> int:
        return len(self._events)

    async def wait(self, session_id: str, timeout: float) -> bool:
        event = self._events.setdefault(session_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            if self._events.get(session_id) is event and not event.is_set():
                del self._events[session_id]

    def wake(self, session_id: str) -> None:
        event = self._events.pop(session_id, None)
        if event is not None:
            event.set()


class WakeOnEvents:
    """A unit-of-work subscriber: whatever concerns a runner's agent answers its long poll,
    so that the agent learns of it at once instead of at the end of the poll."""

    def __init__(self, mailboxes: Mailboxes) -> None:
        self.mailboxes = mailboxes

    def __call__(self, events: Sequence[object]) -> None:
        for event in events:
            if isinstance(event, RunnerEvent) and event.session_id:
                self.mailboxes.wake(event.session_id)
