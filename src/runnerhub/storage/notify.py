"""PostgreSQL's LISTEN/NOTIFY, as the server instances use it to wake each other's long polls
(coordination/wakeups.py): the NOTIFY sent inside a transaction, and the one connection per
instance that listens.

A notification is delivered once its transaction commits, and never for one that rolls back;
PostgreSQL holds at most 8000 bytes of payload per notification.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import Connection, make_url

CHANNEL = "runnerhub_wake"
MAX_PAYLOAD = 7999  # bytes; PostgreSQL refuses 8000 and more


def notify(conn: Connection, payloads: Sequence[str]) -> None:
    """Queue `payloads` on the channel, in one statement, to be sent at COMMIT."""
    if not payloads:
        return
    calls = ", ".join(f"pg_notify(%(channel)s, %(p{i})s)" for i in range(len(payloads)))
    params = {f"p{i}": payload for i, payload in enumerate(payloads)}
    conn.exec_driver_sql(f"SELECT {calls}", {"channel": CHANNEL, **params})


def conninfo(database_url: str) -> str:
    """A libpq connection string for a SQLAlchemy URL (postgresql+psycopg://...)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@contextmanager
def listening(database_url: str, application_name: str) -> Iterator[psycopg.Connection]:
    """A connection of its own (not the pool's), in autocommit, listening on the channel.
    TCP keepalives and a user timeout make a dead peer an error within seconds instead of a
    silence that looks like a quiet channel."""
    conn = psycopg.connect(
        conninfo(database_url),
        autocommit=True,
        application_name=application_name,
        connect_timeout=5,
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=2,
        keepalives_count=3,
        tcp_user_timeout=10_000,
    )
    try:
        conn.execute(f"LISTEN {CHANNEL}")
        yield conn
    finally:
        conn.close()
