"""Deployment environments of repositories, and the deployments their reviews make."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from runnerhub.storage.dialect import insert_ignoring_conflicts
from runnerhub.storage.tables import deployments, environments

AnyRow = Any  # rows of these tables: read by column name


def by_name(conn: Connection, repo_id: int, name: str, *, lock: str | None = None) -> AnyRow | None:
    """`lock`: "share" (the row may not be deleted meanwhile) or "update" (until commit, on
    PostgreSQL; SQLite's write transactions are serial already)."""
    query = select(environments).where(
        environments.c.repo_id == repo_id, environments.c.name_key == name.lower()
    )
    if lock is not None and conn.dialect.name == "postgresql":
        query = query.with_for_update(read=lock == "share")
    return conn.execute(query).first()


def by_ids(conn: Connection, repo_id: int, environment_ids: Sequence[int]) -> list[AnyRow]:
    query = select(environments).where(
        environments.c.repo_id == repo_id, environments.c.id.in_(list(environment_ids))
    )
    return list(conn.execute(query.order_by(environments.c.id)))


def of_repo(conn: Connection, repo_id: int, limit: int, offset: int) -> list[AnyRow]:
    query = (
        select(environments)
        .where(environments.c.repo_id == repo_id)
        .order_by(environments.c.name_key)
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(query))


def count(conn: Connection, repo_id: int) -> int:
    query = select(func.count()).where(environments.c.repo_id == repo_id)
    return int(conn.execute(query).scalar_one())


def ensure(conn: Connection, repo_id: int, name: str, now: datetime) -> AnyRow:
    """The repository's environment of that name, made if there is none (named as asked),
    and kept from deletion until commit. Two transactions making it at once both find the
    one that was made; one deleted meanwhile is made again."""
    while True:
        query = insert_ignoring_conflicts(conn, environments, ["repo_id", "name_key"]).values(
            repo_id=repo_id, name=name, name_key=name.lower(), created_at=now, updated_at=now
        )
        conn.execute(query)
        found = by_name(conn, repo_id, name, lock="share")
        if found is not None:
            return found


def update_environment(conn: Connection, environment_id: int, **values: Any) -> None:
    conn.execute(update(environments).where(environments.c.id == environment_id).values(**values))


def delete_environment(conn: Connection, environment_id: int) -> None:
    conn.execute(delete(environments).where(environments.c.id == environment_id))


def insert_deployment(conn: Connection, **values: Any) -> int:
    inserted = conn.execute(insert(deployments).values(**values)).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def deployments_by_ids(conn: Connection, deployment_ids: Sequence[int]) -> list[AnyRow]:
    query = select(deployments).where(deployments.c.id.in_(list(deployment_ids)))
    return list(conn.execute(query.order_by(deployments.c.id)))
