"""Where long polls wait, without holding a database connection."""

from __future__ import annotations

import asyncio


class Mailboxes:
    """Where long polls wait. A session's poll wakes when something is posted for it or the
    session closes; otherwise it times out. In-process for now: several server instances
    will signal each other through the database."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

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
