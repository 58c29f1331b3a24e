"""The engine and the one-transaction-per-request runner.

Request handlers hand a synchronous function to `read` or `write`; it runs inside one
transaction on one connection, committed when it returns and rolled back when it raises.
With SQLite the function runs inline on the event loop: a WAL read from the page cache takes
a fraction of a millisecond, and a thread hop would cost more than it saves
(shared/design/stack-bench.md). With PostgreSQL, whose round trips block, it runs in a
worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import Connection

from runnerhub.storage import dialect

T = TypeVar("T")


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

    def read(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn, conn.begin():
            return work(conn)

    def write(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            conn.execution_options(**{dialect.WRITE: True})
            with conn.begin():
                return work(conn)

    async def run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        transact = self.write if write else self.read
        if self.is_sqlite:
            return transact(work)
        return await anyio.to_thread.run_sync(transact, work)

    def dispose(self) -> None:
        self.engine.dispose()
