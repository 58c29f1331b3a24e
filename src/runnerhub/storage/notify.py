"""PostgreSQL's LISTEN/NOTIFY, as the server instances use it to wake each other's long polls
(coordination/wakeups.py): the NOTIFY sent inside a transaction, and the one connection per
instance that listens.

A notification is delivered once its transaction commits, and never for one that rolls back;
PostgreSQL holds at most 8000 bytes of payload per notification.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy.engine import Connection, make_url

CHANNEL = "runnerhub_wake"
MAX_PAYLOAD = 7999  # bytes; PostgreSQL refuses 8000 and more


def _statement(payloads: Sequence[str]) -> tuple[str, dict[str, str]]:
    calls = ", ".join(f"pg_notify(%(channel)s, %(p{i})s)" for i in range(len(payloads)))
    params = {f"p{i}": payload for i, payload in enumerate(payloads)}
    return f"SELECT {calls}", {"channel": CHANNEL, **params}


def notify(conn: Connection, payloads: Sequence[str]) -> None:
    """Queue `payloads` on the channel, in one statement of the connection's transaction:
    sent at its COMMIT."""
    if payloads:
        conn.exec_driver_sql(*_statement(payloads))


def send(conn: psycopg.Connection[Any], payloads: Sequence[str]) -> None:
    """Send `payloads` now, on an autocommit connection of `connect`'s."""
    if payloads:
        statement, params = _statement(payloads)
        conn.execute(statement.encode(), params)  # built from placeholders only


def conninfo(database_url: str) -> str:
    """A libpq connection string for a SQLAlchemy URL (postgresql+psycopg://...)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def connect(database_url: str, application_name: str) -> psycopg.Connection[Any]:
    """A connection of its own (not the pool's), in autocommit. TCP keepalives and a user
    timeout make a dead peer an error within seconds instead of a silence that looks like a
    quiet channel."""
    return psycopg.connect(
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


@contextmanager
def listening(database_url: str, application_name: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection of `connect`'s, listening on the channel."""
    conn = connect(database_url, application_name)
    try:
        conn.execute(f"LISTEN {CHANNEL}")
        yield conn
    finally:
        conn.close()
