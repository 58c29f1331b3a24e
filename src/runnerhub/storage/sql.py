"""Hand-written SQL for the hot read paths, run on the DB-API cursor of the request's own
SQLAlchemy connection (same transaction).

SQLAlchemy's per-execution work (cache keys, result processing) costs more than the queries
themselves on these paths: measured in-process on SQLite, the runner list's label lookup took
467 µs through Core and about a tenth of that here. Queries are written once, with `:name`
parameters; `IN_LIST(:name)` stands for membership in a list parameter. `dialect.py`
translates both for each database, and timestamps as `UTCDateTime` binds them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.engine import Connection

from runnerhub.storage.dialect import bind_moment

_IN_LIST = re.compile(r"IN_LIST\(:(\w+)\)")
_NAMED = re.compile(r"(?<![:\w]):(\w+)")


@cache
def _text(sql: str, dialect: str) -> str:
    if dialect == "sqlite":
        return _IN_LIST.sub(r"IN (SELECT value FROM json_each(:\1))", sql)
    sql = _IN_LIST.sub(r"= ANY(:\1)", sql).replace("%", "%%")
    return _NAMED.sub(r"%(\1)s", sql)


def _params(params: Mapping[str, Any], dialect: str) -> Mapping[str, Any]:
    if not any(type(v) is list or isinstance(v, datetime) for v in params.values()):
        return params
    return {k: _param(v, dialect) for k, v in params.items()}


def _param(value: Any, dialect: str) -> Any:
    if isinstance(value, datetime):
        return bind_moment(value, dialect)
    if dialect == "sqlite" and type(value) is list:
        return json.dumps(value)
    return value


def fetch_all(conn: Connection, sql: str, **params: Any) -> Sequence[tuple[Any, ...]]:
    dialect = conn.dialect.name
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_text(sql, dialect), _params(params, dialect))
        return cursor.fetchall()  # type: ignore[no-any-return]
    finally:
        cursor.close()


def execute(conn: Connection, sql: str, **params: Any) -> int:
    """A statement that answers no rows (an UPDATE): how many rows it changed."""
    dialect = conn.dialect.name
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_text(sql, dialect), _params(params, dialect))
        return int(cursor.rowcount)
    finally:
        cursor.close()


def fetch_one(conn: Connection, sql: str, **params: Any) -> tuple[Any, ...] | None:
    found = fetch_all(conn, sql, **params)
    return found[0] if found else None
