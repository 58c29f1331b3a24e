"""Stored tokens: personal access tokens and runner registration/remove tokens, by hash."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Row, select
from sqlalchemy.engine import Connection

from runnerhub.storage import sql
from runnerhub.storage.dialect import utc
from runnerhub.storage.tables import (
    api_token_repositories,
    api_tokens,
    runner_tokens,
    web_sessions,
)


class ApiTokenRow(NamedTuple):
    id: int
    user_id: int
    token_hash: str
    kind: str
    scopes: str
    permissions: str
    resource_owner_id: int | None
    repository_selection: str | None
    expires_at: datetime | None
    login: str
    site_admin: bool


_BY_HASH = """
    SELECT t.id, t.user_id, t.token_hash, t.kind, t.scopes, t.permissions, t.resource_owner_id,
           t.repository_selection, t.expires_at, a.login, a.site_admin
    FROM api_tokens t JOIN accounts a ON a.id = t.user_id
    WHERE t.token_hash = :hash
"""


def api_token_by_hash(conn: Connection, token_hash: str) -> ApiTokenRow | None:
    """Read on every request: hand-written SQL (see storage/sql.py)."""
    found = sql.fetch_one(conn, _BY_HASH, hash=token_hash)
    if found is None:
        return None
    row = ApiTokenRow(*found)
    return row._replace(expires_at=utc(row.expires_at), site_admin=bool(row.site_admin))


def api_token_repository_ids(conn: Connection, token_id: int) -> frozenset[int]:
    query = select(api_token_repositories.c.repo_id).where(
        api_token_repositories.c.token_id == token_id
    )
    return frozenset(int(r) for r in conn.execute(query).scalars())


def insert_api_token(
    conn: Connection,
    *,
    user_id: int,
    token_hash: str,
    kind: str,
    scopes: str,
    permissions: str,
    resource_owner_id: int | None,
    repository_selection: str | None,
    repository_ids: Iterable[int],
    expires_at: datetime | None,
    now: datetime,
    token_prefix: str | None = None,
    note: str | None = None,
) -> int:
    result = conn.execute(
        api_tokens.insert().values(
            user_id=user_id,
            token_hash=token_hash,
            kind=kind,
            scopes=scopes,
            permissions=permissions,
            resource_owner_id=resource_owner_id,
            repository_selection=repository_selection,
            expires_at=expires_at,
            created_at=now,
            token_prefix=token_prefix,
            note=note,
        )
    )
    assert result.inserted_primary_key is not None
    token_id = int(result.inserted_primary_key[0])
    rows = [{"token_id": token_id, "repo_id": repo_id} for repo_id in repository_ids]
    if rows:
        conn.execute(api_token_repositories.insert(), rows)
    return token_id


def api_tokens_of_user(conn: Connection, user_id: int) -> list[Row[tuple[object, ...]]]:
    query = select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id)
    return list(conn.execute(query))


def api_token_by_id(conn: Connection, token_id: int) -> Row[tuple[object, ...]] | None:
    return conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()


def delete_api_token(conn: Connection, token_id: int) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.token_id == token_id))
    conn.execute(
        api_token_repositories.delete().where(api_token_repositories.c.token_id == token_id)
    )
    conn.execute(api_tokens.delete().where(api_tokens.c.id == token_id))


def insert_runner_token(
    conn: Connection,
    *,
    scope_id: int,
    purpose: str,
    token_hash: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    conn.execute(
        runner_tokens.insert().values(
            scope_id=scope_id,
            purpose=purpose,
            token_hash=token_hash,
            expires_at=expires_at,
            created_at=now,
        )
    )


def runner_token_by_hash(conn: Connection, token_hash: str) -> Row[tuple[object, ...]] | None:
    return conn.execute(
        select(runner_tokens).where(runner_tokens.c.token_hash == token_hash)
    ).first()
