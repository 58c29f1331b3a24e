"""Runner rows. Every query here is filtered on `scope_id`: a runner id from another scope
simply does not exist for the caller."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from runnerhub.storage import labels, sql
from runnerhub.storage.dialect import for_update, insert_ignoring_conflicts, utc
from runnerhub.storage.tables import runner_groups, runners


class NameTaken(Exception):
    """Another runner of the scope has this name (case-insensitively)."""


class RunnerRow(NamedTuple):
    id: int
    name: str
    os: str
    version: str | None
    ephemeral: bool
    last_seen_at: datetime | None
    group_number: int
    busy: bool
    session_id: str | None


class ListedRunner(NamedTuple):
    """A runner of a page, with its labels, read in the same query."""

    row: RunnerRow
    labels: list[labels.Label]


_COLUMNS = """
    SELECT r.id, r.name, r.os, r.version, r.ephemeral, r.last_seen_at, g.number,
           r.job_id IS NOT NULL,
           r.session_id
"""
_FROM = " FROM runners r JOIN runner_groups g ON g.id = r.group_id"
_SELECT = _COLUMNS + _FROM
_SELECT_LISTED = {
    dialect: _COLUMNS + ", " + column + _FROM for dialect, column in labels.OF_RUNNER_COLUMN.items()
}
_BY_SCOPE = " WHERE r.scope_id = :scope"
_BY_NAME = " AND r.name_lower = :name"
_PAGE = " ORDER BY r.id LIMIT :limit OFFSET :offset"
_PAGE_FROM_END = " ORDER BY r.id DESC LIMIT :limit OFFSET :offset"


def _row(values: tuple[Any, ...]) -> RunnerRow:
    id_, name, os, version, ephemeral, last_seen_at, group, busy, session_id = values
    return RunnerRow(
        id_, name, os, version, bool(ephemeral), utc(last_seen_at), group, bool(busy), session_id
    )


_COUNT = "SELECT runner_count FROM scopes WHERE id = :scope"
_COUNT_NAMED = "SELECT count(*) FROM runners r" + _BY_SCOPE + _BY_NAME  # noqa: S608


def count(conn: Connection, scope_id: int, name: str | None) -> int:
    if name:  # names are unique per scope: 0 or 1
        found = sql.fetch_one(conn, _COUNT_NAMED, scope=scope_id, name=name.lower())
    else:
        found = sql.fetch_one(conn, _COUNT, scope=scope_id)
    return int(found[0]) if found else 0


def page(
    conn: Connection, scope_id: int, name: str | None, limit: int, offset: int, total: int
) -> list[ListedRunner]:
    """One page in id order, with labels."""
    where = _BY_SCOPE + (_BY_NAME if name else "")
    params = {"scope": scope_id, "name": (name or "").lower()}
    return _paged(conn, where, params, limit, offset, total)


def in_group(
    conn: Connection, scope_id: int, group_id: int, limit: int, offset: int, total: int
) -> list[ListedRunner]:
    """One page of a group's runners in id order (index runners(group_id, id)), with
    labels."""
    params = {"scope": scope_id, "group": group_id}
    return _paged(conn, _BY_SCOPE + " AND r.group_id = :group", params, limit, offset, total)


def _paged(
    conn: Connection, where: str, params: dict[str, Any], limit: int, offset: int, total: int
) -> list[ListedRunner]:
    """Pages in the back half of `total` are read from the end, so that the last page of a
    large fleet costs what the first one does."""
    select = _SELECT_LISTED[conn.dialect.name]
    if offset > total // 2:
        from_end = max(total - offset - limit, 0)
        limit = min(limit, total - offset)
        if limit <= 0:
            return []
        rows = sql.fetch_all(
            conn, select + where + _PAGE_FROM_END, limit=limit, offset=from_end, **params
        )
        return _listed(conn, rows[::-1])
    rows = sql.fetch_all(conn, select + where + _PAGE, limit=limit, offset=offset, **params)
    return _listed(conn, rows)


def _listed(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[ListedRunner]:
    runner_labels = labels.of_columns(conn, [values[-1] for values in rows])
    return [
        ListedRunner(_row(values[:-1]), found)
        for values, found in zip(rows, runner_labels, strict=True)
    ]


def one(conn: Connection, scope_id: int, runner_id: int, *, lock: bool = False) -> RunnerRow | None:
    """The runner, or None. `lock` holds its row until commit, serializing label changes
    on PostgreSQL (SQLite's write transactions are serial already)."""
    query = _SELECT + _BY_SCOPE + " AND r.id = :id" + (for_update(conn, "r") if lock else "")
    found = sql.fetch_one(conn, query, scope=scope_id, id=runner_id)
    return None if found is None else _row(found)


def name_taken(conn: Connection, scope_id: int, name: str) -> bool:
    query = select(runners.c.id).where(
        runners.c.scope_id == scope_id, runners.c.name_lower == name.lower()
    )
    return conn.execute(query).first() is not None


def group_id(conn: Connection, scope_id: int, number: int) -> int | None:
    query = select(runner_groups.c.id).where(
        runner_groups.c.scope_id == scope_id, runner_groups.c.number == number
    )
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def insert(
    conn: Connection,
    *,
    scope_id: int,
    group_id: int,
    name: str,
    os: str,
    ephemeral: bool,
    work_folder: str,
    public_key: str | None,
    client_id: str | None,
    now: datetime,
) -> int:
    """Insert a runner; NameTaken when a concurrent request won the name first.

    ON CONFLICT on the name rather than a savepoint around the INSERT: no extra round trips,
    and a lost race leaves the transaction usable on PostgreSQL."""
    values = dict(
        scope_id=scope_id,
        group_id=group_id,
        name=name,
        name_lower=name.lower(),
        os=os,
        ephemeral=ephemeral,
        work_folder=work_folder,
        public_key=public_key,
        client_id=client_id,
        created_at=now,
    )
    statement = insert_ignoring_conflicts(conn, runners, on=("scope_id", "name_lower"))
    runner_id = conn.execute(statement.values(values).returning(runners.c.id)).scalar()
    if runner_id is None:
        raise NameTaken(name)
    return int(runner_id)


def delete(conn: Connection, scope_id: int, runner_id: int) -> None:
    conn.execute(runners.delete().where(runners.c.scope_id == scope_id, runners.c.id == runner_id))


def delete_not_seen_since(
    conn: Connection, offline_before: datetime, ephemeral_before: datetime
) -> int:
    """Remove runners last alive before `offline_before` (ephemeral ones: `ephemeral_before`).
    Never seen: counted from registration."""
    last_alive = func.coalesce(runners.c.last_seen_at, runners.c.created_at)
    stale = or_(
        last_alive < offline_before,
        and_(runners.c.ephemeral.is_(True), last_alive < ephemeral_before),
    )
    return int(conn.execute(runners.delete().where(stale)).rowcount)
