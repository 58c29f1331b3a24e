"""Where long polls wait, without holding a database connection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Protocol

from runnerhub.domain.events import RunnerEvent


class Listener(Protocol):
    async def wait(self, timeout: float) -> bool:
        """Until woken (True) or `timeout` passes (False)."""

    def close(self) -> None: ...


class Mailboxes(Protocol):
    def listen(self, session_id: str) -> Listener:
        """Start listening for the session: a wake from now on is not missed."""

    def wake(self, session_id: str) -> None:
        """Answer the session's pending long poll now, if it has one."""

    def __len__(self) -> int:
        """How many sessions are listening (long polls held)."""


class MemoryListener:
    def __init__(self, boxes: MemoryMailboxes, session_id: str, event: asyncio.Event) -> None:
        self.boxes, self.session_id, self.event = boxes, session_id, event

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        events = self.boxes.events
        if events.get(self.session_id) is self.event and not self.event.is_set():
            del events[self.session_id]


class MemoryMailboxes:
    """Long polls of this process, by session. Call `wake` on the event loop's thread."""

    def __init__(self) -> None:
        self.events: dict[str, asyncio.Event] = {}

    def __len__(self) -> int:
        return len(self.events)

    def listen(self, session_id: str) -> MemoryListener:
        event = self.events.setdefault(session_id, asyncio.Event())
        return MemoryListener(self, session_id, event)

    def wake(self, session_id: str) -> None:
        event = self.events.pop(session_id, None)
        if event is not None:
            event.set()

    def wake_many(self, session_ids: Iterable[str]) -> None:
        for session_id in session_ids:
            self.wake(session_id)

    def wake_all(self) -> None:
        """Answer every pending long poll: each agent asks again and finds what is new."""
        events, self.events = self.events, {}
        for event in events.values():
            event.set()

    def held(self) -> list[str]:
        """The sessions whose long polls wait here."""
        return list(self.events)


def sessions_to_wake(events: Sequence[object]) -> list[str]:
    """The sessions whose agents a unit of work's events concern, each once, in order."""
    found = (e.session_id for e in events if isinstance(e, RunnerEvent) and e.session_id)
    return list(dict.fromkeys(found))


class WakeOnEvents:
    """A unit-of-work subscriber: whatever concerns a runner's agent answers its long poll,
    so that the agent learns of it at once instead of at the end of the poll."""

    def __init__(self, mailboxes: Mailboxes) -> None:
        self.mailboxes = mailboxes

    def __call__(self, events: Sequence[object]) -> None:
        for session_id in sessions_to_wake(events):
            self.mailboxes.wake(session_id)
