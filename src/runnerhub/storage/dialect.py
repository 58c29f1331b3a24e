"""Everything that differs between SQLite and PostgreSQL, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

# WAL lets readers run beside the one writer; NORMAL is durable across application crashes
# (not power loss), the usual trade for WAL. busy_timeout covers the CLI writing while the
# server runs. foreign_keys is off by default in SQLite.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-16000",
)

WRITE = "runnerhub_write"


def is_in_memory(url: str) -> bool:
    """An SQLite database that lives in one process's memory (no other process can open it)."""
    return url.startswith("sqlite") and (url.rstrip("/").endswith(("sqlite:", ":memory:"))
                                         or "mode=memory" in url)  # fmt: skip


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def prepare_engine(engine: Engine) -> None:
    if is_sqlite(engine):
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Take transaction control from the sqlite3 module so that BEGIN is ours (see below).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # A write transaction takes the write lock up front: a read snapshot upgraded to a write
    # later fails with SQLITE_BUSY instead of waiting.
    write = conn.get_execution_options().get(WRITE, False)
    # Straight to the driver: this runs on every request, and SQLAlchemy's execution path
    # costs more than the statement.
    conn.connection.driver_connection.execute(  # type: ignore[union-attr]
        "BEGIN IMMEDIATE" if write else "BEGIN"
    )


def insert_ignoring_conflicts(
    conn: Connection, table: Table, on: Sequence[str] | None = None
) -> Insert:
    """INSERT ... ON CONFLICT [(on)] DO NOTHING, which both dialects spell the same but build
    apart. With `on`, only a conflict on that unique key is ignored."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=on)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=on)


def utc(value: object) -> datetime | None:
    """A timestamp read by hand-written SQL: SQLite hands back text, PostgreSQL a naive
    datetime; both are UTC (see types.UTCDateTime)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC)


def bind_moment(value: datetime, dialect: str) -> Any:
    """A timestamp for hand-written SQL, stored as `types.UTCDateTime` stores it: naive UTC,
    which SQLite keeps as SQLAlchemy's text (compared as text, so the same format)."""
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return naive.strftime(_SQLITE_MOMENT) if dialect == "sqlite" else naive


_SQLITE_MOMENT = "%Y-%m-%d %H:%M:%S.%f"  # sqlalchemy.dialects.sqlite.DATETIME's


def for_update(conn: Connection, alias: str) -> str:
    """Row locks for hand-written SQL: PostgreSQL takes them; SQLite's write transactions
    are serial already and have no FOR UPDATE."""
    return f" FOR UPDATE OF {alias}" if conn.dialect.name == "postgresql" else ""


# PostgreSQL's SQLSTATEs for a transaction that lost a race and may simply be run again.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


def is_transient(error: Exception) -> bool:
    """Whether `error` (SQLAlchemy's wrapper, or the driver's own from hand-written SQL)
    says the transaction lost a race."""
    driver_error = getattr(error, "orig", error)
    return getattr(driver_error, "sqlstate", None) in TRANSIENT_SQLSTATES


LABEL_CREATION_LOCK = 0x6C61  # "la": the advisory lock space of label creation


def lock_scope_labels(conn: Connection, scope_id: int) -> None:
    """Hold, until commit, the right to create labels in a scope. PostgreSQL takes an
    advisory lock; SQLite's write transactions are serial already."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(%(space)s, %(key)s)",
            {"space": LABEL_CREATION_LOCK, "key": scope_id % 2**31},
        )


SWEEP_LOCK = 0x7377  # "sw": the advisory lock space of the background sweeps


def lock_round(conn: Connection, sweep: int, *, wait: bool = False) -> bool:
    """Take, until commit, the right to run a round of sweep number `sweep`: False when
    another server instance is running one (PostgreSQL's advisory lock, not waited for
    unless `wait`). SQLite has one server process: always True."""
    if conn.dialect.name != "postgresql":
        return True
    params = {"space": SWEEP_LOCK, "key": sweep}
    if wait:  # returns void: waited for, so held
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(space)s, %(key)s)", params)
        return True
    found = conn.exec_driver_sql(
        "SELECT pg_try_advisory_xact_lock(%(space)s, %(key)s)", params
    ).scalar()
    return bool(found)
