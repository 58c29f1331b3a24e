"""Runner rows. Every query here is filtered on `scope_id`: a runner id from another scope
simply does not exist for the caller."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, exists, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from runnerhub.storage.tables import jobs, runner_groups, runners

_busy = (
    exists().where(jobs.c.runner_id == runners.c.id, jobs.c.status == "in_progress").label("busy")
)

_columns = (
    runners.c.id,
    runners.c.name,
    runners.c.os,
    runners.c.version,
    runners.c.ephemeral,
    runners.c.last_seen_at,
    runner_groups.c.number.label("group_number"),
    _busy,
)


class NameTaken(Exception):
    """Another runner of the scope has this name (case-insensitively)."""


_from = runners.join(runner_groups, runner_groups.c.id == runners.c.group_id)


def count(conn: Connection, scope_id: int, name: str | None) -> int:
    query = select(func.count()).select_from(runners).where(runners.c.scope_id == scope_id)
    if name is not None:
        query = query.where(runners.c.name_lower == name.lower())
    return int(conn.execute(query).scalar_one())


def page(
    conn: Connection, scope_id: int, name: str | None, limit: int, offset: int
) -> list[Row[tuple[object, ...]]]:
    query = select(*_columns).select_from(_from).where(runners.c.scope_id == scope_id)
    if name is not None:
        query = query.where(runners.c.name_lower == name.lower())
    query = query.order_by(runners.c.id).limit(limit).offset(offset)
    return list(conn.execute(query))


def one(
    conn: Connection, scope_id: int, runner_id: int, *, lock: bool = False
) -> Row[tuple[object, ...]] | None:
    """The runner, or None. `lock` holds its row until commit, serializing label changes
    on PostgreSQL (SQLite's write transactions are serial already)."""
    query = (
        select(*_columns)
        .select_from(_from)
        .where(runners.c.scope_id == scope_id, runners.c.id == runner_id)
    )
    if lock:
        query = query.with_for_update(of=runners)
    return conn.execute(query).first()


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
    """Insert a runner; NameTaken when a concurrent request won the name first."""
    statement = runners.insert().values(
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
    try:
        with conn.begin_nested():
            result = conn.execute(statement)
    except IntegrityError as error:
        if name_taken(conn, scope_id, name):
            raise NameTaken(name) from error
        raise
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def delete(conn: Connection, scope_id: int, runner_id: int) -> None:
    conn.execute(runners.delete().where(runners.c.scope_id == scope_id, runners.c.id == runner_id))
