"""Long polls across server instances on one PostgreSQL: a change committed through any
instance answers the agent's pending poll on whichever instance holds it.

- Sending: once a unit of work whose events concern agents (domain/events.RunnerEvent:
  runner changed or removed, session closed, job assigned, cancellation requested; group
  access changes raise RunnerChanged for the group's idle runners) has committed, its
  sessions are handed to this instance's sender thread, which sends them with `pg_notify`
  on a connection of its own, naming this instance and every session (split only past
  PostgreSQL's 8000-byte payload, about 200 sessions); what commits while it sends goes in
  its next statement. Local polls are woken at once, as on SQLite, and an instance ignores
  its own notifications. Not inside the change's transaction: PostgreSQL serializes the
  commits of notifying transactions: with fsync on and 8 writers, 2.3 to 3.7 times fewer
  commits a second than with one more plain statement instead (bench/notify_commits.py:
  1 050 against 2 450 in one run, 430 against 1 400 in another), a cap on every job claim
  of every instance together. The cost is that a change committed by an instance
  that dies before sending is not notified: the catch-up below finds it. Processes that
  hold no polls (the CLI) notify inside the transaction instead (`announcer`). A lost
  sending connection is opened again with the backoff below and sends what waited; a
  stopping instance sends what is queued before it ends.
- Receiving: one connection per instance LISTENs, on a thread of its own, and wakes the
  named sessions' polls held here. A lost connection is opened again with backoff (0.1 s,
  doubling, at most 5 s); after each (re)connection every poll held here is woken once, as
  whatever was sent meanwhile was not heard: each agent asks again and finds what is new.
  A ping every 5 s, TCP keepalives and a TCP user timeout make a silently dead connection
  an error within about 15 s.
- Catching up: every `wake_catch_up_seconds` (5 s), one read over the sessions whose polls
  are held here finds those with an answer waiting (runner or session gone, a job assigned
  and not yet taken, a cancellation not yet delivered) and wakes them. So a lost
  notification delays such a wake-up by at most that period, and never loses it. A wake-up
  that only asks the agent to look again (labels changed, group access changed) is not
  state that can be read back: lost, it waits for the end of the poll's hold (half the
  liveness window), which is also the bound for everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import anyio.to_thread
import psycopg

from runnerhub.coordination.mailboxes import MemoryListener, MemoryMailboxes, sessions_to_wake
from runnerhub.domain import agent_sessions
from runnerhub.storage import notify
from runnerhub.storage.database import Database
from runnerhub.storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

FIRST_PAUSE, MAX_PAUSE = 0.1, 5.0  # seconds between attempts to connect the listener
PING_SECONDS = 5.0
CATCH_UP_BATCH = 1000  # sessions per catch-up query


def payloads(instance: str, sessions: Sequence[str]) -> list[str]:
    """`instance session session ...`, as few as fit PostgreSQL's payload limit."""
    found, current = [], instance
    for session in sessions:
        if len(current) + 1 + len(session.encode()) > notify.MAX_PAYLOAD:
            found.append(current)
            current = instance
        current += " " + session
    if current != instance:
        found.append(current)
    return found


def announcer(instance: str) -> Callable[[UnitOfWork], None]:
    """A pre-commit hook (Database.pre_commit) telling every instance's listener of the
    sessions a unit of work concerns: for processes that hold no polls (the CLI)."""

    def announce(uow: UnitOfWork) -> None:
        sessions = sessions_to_wake(uow.events)
        if sessions:
            notify.notify(uow.conn, payloads(instance, sessions))

    return announce


class PostgresMailboxes:
    """Mailboxes (coordination/mailboxes.py) whose wake-ups reach every instance; a Service
    (start/stop) for the listener thread and the catch-up."""

    def __init__(self, db: Database, *, catch_up_seconds: float = 5.0) -> None:
        self.db = db
        self.local = MemoryMailboxes()
        self.instance = uuid.uuid4().hex[:16]
        self.catch_up_seconds = catch_up_seconds
        self.connections = 0  # how many times the listener connected (1 + reconnections)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._outbox: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._sender: threading.Thread | None = None

    # -- Mailboxes

    def listen(self, session_id: str) -> MemoryListener:
        return self.local.listen(session_id)

    def wake(self, session_id: str) -> None:
        self.local.wake(session_id)

    def __len__(self) -> int:
        return len(self.local)

    # -- the seam: a subscriber of the unit of work's events, after commit (any thread)

    def committed(self, events: Sequence[object]) -> None:
        sessions = sessions_to_wake(events)
        if sessions:
            self._outbox.put(sessions)

    # -- Service

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._listen_forever, name="wake listener", daemon=True
        )
        self._thread.start()
        self._sender = threading.Thread(target=self._send_forever, name="wake sender",
                                        daemon=True)  # fmt: skip
        self._sender.start()
        self._task = asyncio.create_task(self._catch_up_forever(), name="wake catch-up")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._outbox.put(None)  # the sender sends what is queued, then ends
        for thread in (self._thread, self._sender):
            if thread is not None:
                await anyio.to_thread.run_sync(thread.join, 10)
        self._thread = self._sender = None
        self._loop = None

    # -- catching up

    async def catch_up(self) -> int:
        """Wake the polls held here that have an answer waiting; answers how many."""
        held = self.local.held()

        def look(uow: UnitOfWork) -> list[str]:
            found: list[str] = []
            for start in range(0, len(held), CATCH_UP_BATCH):
                found += agent_sessions.with_news(uow, held[start : start + CATCH_UP_BATCH])
            return found

        news = await self.db.run(look, write=False) if held else []
        self.local.wake_many(news)
        return len(news)

    async def _catch_up_forever(self) -> None:
        while True:
            await asyncio.sleep(self.catch_up_seconds)
            try:
                if await self.catch_up():
                    log.info("wake catch-up answered polls no notification had woken")
            except Exception:
                log.exception("wake catch-up failed")

    # -- the sender thread

    def _send_forever(self) -> None:
        pause, conn = FIRST_PAUSE, None
        pending: list[str] = []
        ending = False
        while not (ending and not pending):
            if not pending:
                first = self._outbox.get()
                if first is None:
                    break
                pending = first
            ending = self._take_queued(pending) or ending
            try:
                if conn is None:
                    conn = notify.connect(self.db.url, f"runnerhub sender {self.instance}")
                notify.send(conn, payloads(self.instance, list(dict.fromkeys(pending))))
                pending, pause = [], FIRST_PAUSE
            except (psycopg.Error, OSError) as error:
                if conn is not None:
                    conn.close()
                conn = None
                log.warning("wake sender: %s; sending again in %.1f s", error, pause)
                if ending or self._stopping.wait(pause):
                    break  # the catch-up of each instance finds what this did not send
                pause = min(pause * 2, MAX_PAUSE)
        if conn is not None:
            conn.close()

    def _take_queued(self, pending: list[str]) -> bool:
        """Add whatever else is queued to `pending`; True if the end was asked for."""
        while True:
            try:
                more = self._outbox.get_nowait()
            except queue.Empty:
                return False
            if more is None:
                return True
            pending += more

    # -- the listener thread

    def _listen_forever(self) -> None:
        pause = FIRST_PAUSE
        name = f"runnerhub listener {self.instance}"
        while not self._stopping.is_set():
            try:
                with notify.listening(self.db.url, name) as conn:
                    self.connections += 1
                    pause = FIRST_PAUSE
                    # Whatever was sent while nobody listened here went unheard.
                    self._on_loop(self.local.wake_all)
                    self._receive(conn)
            except (psycopg.Error, OSError) as error:
                if self._stopping.is_set():
                    break
                log.warning("wake listener: %s; connecting again in %.1f s", error, pause)
            if self._stopping.wait(pause):
                break
            pause = min(pause * 2, MAX_PAUSE)

    def _receive(self, conn: psycopg.Connection[Any]) -> None:
        next_ping = time.monotonic() + PING_SECONDS
        while not self._stopping.is_set():
            for note in conn.notifies(timeout=0.5):
                self._heard(note.payload)
            if time.monotonic() >= next_ping:
                conn.execute("SELECT 1")
                next_ping = time.monotonic() + PING_SECONDS

    def _heard(self, payload: str) -> None:
        sender, *sessions = payload.split()
        if sender != self.instance and sessions:
            self._on_loop(self.local.wake_many, sessions)

    def _on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                loop.call_soon_threadsafe(callback, *args)
