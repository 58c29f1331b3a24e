"""One transaction, and what happens once it commits.

Domain functions get a `UnitOfWork`: the transaction's connection, callbacks to run after
it commits, and the events it raised. Nothing is run or announced for a transaction that
rolls back: waking a long poll, delivering a webhook or notifying another instance all hang
off `after_commit` and the events, never off the statements themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.engine import Connection

Event = object  # the domain's event values (domain/events.py); storage does not look inside
Subscriber = Callable[[Sequence[Event]], None]
# Run inside the transaction, after the work and before COMMIT, when it raised events: what
# must commit or roll back with the change itself (a NOTIFY to the other server instances).
PreCommit = Callable[["UnitOfWork"], None]


class UnitOfWork:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.events: list[Event] = []
        # What the transaction read once and may need again (the active webhooks of a scope).
        self.memo: dict[object, object] = {}
        self._after_commit: list[Callable[[], None]] = []

    def emit(self, event: Event) -> None:
        """Announce `event` to the subscribers once the transaction has committed."""
        self.events.append(event)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def before_commit(self, hooks: Sequence[PreCommit]) -> None:
        """Called inside the transaction, once the work has returned."""
        if self.events:
            for hook in hooks:
                hook(self)

    def committed(self, subscribers: Sequence[Subscriber]) -> None:
        """Called once, after COMMIT, on the event loop's thread for requests."""
        for callback in self._after_commit:
            callback()
        if self.events:
            for subscriber in subscribers:
                subscriber(self.events)
