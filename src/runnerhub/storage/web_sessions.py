"""Dashboard sessions, by the hash of their id (the id itself lives only in the cookie)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Connection

from runnerhub.storage import sql
from runnerhub.storage.dialect import utc
from runnerhub.storage.tables import web_sessions
from runnerhub.storage.tokens import ApiTokenRow

# The token row a live session acts through, as storage/tokens.py reads one by its hash.
_BY_SESSION = """
    SELECT t.id, t.user_id, t.token_hash, t.kind, t.scopes, t.permissions, t.resource_owner_id,
           t.repository_selection, t.expires_at, a.login, a.site_admin
    FROM web_sessions s
    JOIN api_tokens t ON t.id = s.token_id
    JOIN accounts a ON a.id = t.user_id
    WHERE s.session_hash = :hash AND s.expires_at > :now
"""


def insert(
    conn: Connection, session_hash: str, token_id: int, now: datetime, expires_at: datetime
) -> None:
    conn.execute(
        web_sessions.insert().values(
            session_hash=session_hash, token_id=token_id, created_at=now, expires_at=expires_at
        )
    )


def token_of(conn: Connection, session_hash: str, now: datetime) -> ApiTokenRow | None:
    found: Any = sql.fetch_one(conn, _BY_SESSION, hash=session_hash, now=now)
    if found is None:
        return None
    row = ApiTokenRow(*found)
    return row._replace(expires_at=utc(row.expires_at), site_admin=bool(row.site_admin))


def remove(conn: Connection, session_hash: str) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.session_hash == session_hash))


def remove_expired(conn: Connection, now: datetime) -> int:
    return int(conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now)).rowcount)

