"""The engine and the one-transaction-per-request runner.

Request handlers hand a synchronous function of a `UnitOfWork` to `run`; it runs inside one
transaction on one connection, committed when it returns and rolled back when it raises;
then, and only then, the unit's after-commit callbacks run and its events reach the
subscribers. With SQLite the function runs inline on the event loop: a WAL read from the
page cache takes a fraction of a millisecond, and a thread hop would cost more than it saves
(shared/design/stack-bench.md). With PostgreSQL, whose round trips block, it runs in a
worker thread, and a transaction that loses a deadlock or a serialization conflict is run
again from the start (a few times, after a short random pause).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import Connection

from runnerhub.errors import RunnerhubError
from runnerhub.storage import dialect
from runnerhub.storage.unit_of_work import PreCommit, Subscriber, UnitOfWork

T = TypeVar("T")

ATTEMPTS = 5
log = logging.getLogger(__name__)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False})
        else:
            engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        dialect.prepare_engine(engine)
        self.engine: Engine = engine
        self.is_sqlite = dialect.is_sqlite(engine)
        self.subscribers: list[Subscriber] = []
        self.pre_commit: list[PreCommit] = []  # see unit_of_work.PreCommit
        # SQLite, inline on the event loop: one connection each for reads and for writes,
        # kept checked out between requests. A pool checkout, reset and checkin cost about
        # 95 µs a request against 20 µs for BEGIN and COMMIT on a kept connection (measured,
        # bench/inproc.py). Whoever finds one busy (another thread) takes the pool's way.
        self._kept: dict[bool, Connection] = {}
        self._kept_locks = {False: threading.Lock(), True: threading.Lock()}

    # -- raw connections: migrations, tests, the benchmark's seeding

    def read(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn, conn.begin():
            return work(conn)

    def write(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            conn.execution_options(**{dialect.WRITE: True})
            with conn.begin():
                return work(conn)

    # -- units of work: everything the domain does

    def transact(self, work: Callable[[UnitOfWork], T], *, write: bool = True) -> T:
        """Run `work` in one transaction, then its after-commit callbacks and events."""
        result, uow = self._attempt(work, write)
        uow.committed(self.subscribers)
        return result

    async def run(self, work: Callable[[UnitOfWork], T], *, write: bool) -> T:
        if self.is_sqlite:
            result, uow = self._attempt(work, write, kept=True)
        else:
            result, uow = await anyio.to_thread.run_sync(self._attempt, work, write)
        uow.committed(self.subscribers)  # on the event loop: wake-ups touch asyncio state
        return result

    def _attempt(
        self, work: Callable[[UnitOfWork], T], write: bool, *, kept: bool = False
    ) -> tuple[T, UnitOfWork]:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                if kept:
                    return self._once_kept(work, write)
                return self._once(work, write)
            except Exception as error:
                if attempt == ATTEMPTS or not dialect.is_transient(error):
                    raise
                log.info("transaction run again after %s", type(error).__name__)
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    def _once(self, work: Callable[[UnitOfWork], T], write: bool) -> tuple[T, UnitOfWork]:
        with self.engine.connect() as conn:
            if write:
                conn.execution_options(**{dialect.WRITE: True})
            with conn.begin():
                uow = UnitOfWork(conn)
                result = work(uow)
                uow.before_commit(self.pre_commit)
                return result, uow

    def _once_kept(self, work: Callable[[UnitOfWork], T], write: bool) -> tuple[T, UnitOfWork]:
        lock = self._kept_locks[write]
        if not lock.acquire(blocking=False):
            return self._once(work, write)
        try:
            conn = self._kept.get(write)
            if conn is None:
                conn = self.engine.connect()
                if write:
                    conn.execution_options(**{dialect.WRITE: True})
                self._kept[write] = conn
            try:
                with conn.begin():
                    uow = UnitOfWork(conn)
                    result = work(uow)
                    uow.before_commit(self.pre_commit)
                    return result, uow
            except RunnerhubError:
                raise  # a refusal: rolled back cleanly, the connection serves on
            except BaseException:
                # Rolled back; hand the connection back to the pool as a failed request
                # always did, and start the next request on a fresh one.
                del self._kept[write]
                conn.close()
                raise
        finally:
            lock.release()

    def dispose(self) -> None:
        for write, lock in self._kept_locks.items():
            with lock:
                conn = self._kept.pop(write, None)
                if conn is not None:
                    conn.close()
        self.engine.dispose()
