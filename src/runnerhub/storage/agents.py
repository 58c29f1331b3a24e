"""What the runner protocol stores: registrations, access tokens, sessions and heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, delete, select, update
from sqlalchemy.engine import Connection

from runnerhub.storage import sql
from runnerhub.storage.dialect import utc
from runnerhub.storage.tables import runner_access_tokens, runners

AnyRow = Row[*tuple[Any, ...]]


def runner_by_client_id(conn: Connection, client_id: str) -> AnyRow | None:
    query = select(runners.c.id, runners.c.public_key).where(runners.c.client_id == client_id)
    return conn.execute(query).first()


def runner_by_name(conn: Connection, scope_id: int, name: str) -> AnyRow | None:
    query = select(runners.c.id, runners.c.session_id, runners.c.last_seen_at).where(
        runners.c.scope_id == scope_id, runners.c.name_lower == name.lower()
    )
    return conn.execute(query).first()


def reconfigure(
    conn: Connection,
    runner_id: int,
    *,
    group_id: int,
    os: str,
    version: str | None,
    ephemeral: bool,
    work_folder: str,
    public_key: str,
    client_id: str,
) -> None:
    """`--replace`: the runner keeps its id; everything else, credentials included, is new."""
    conn.execute(
        update(runners)
        .where(runners.c.id == runner_id)
        .values(
            group_id=group_id,
            os=os,
            version=version,
            ephemeral=ephemeral,
            work_folder=work_folder,
            public_key=public_key,
            client_id=client_id,
            session_id=None,
            session_started_at=None,
            last_seen_at=None,
        )
    )
    conn.execute(delete(runner_access_tokens).where(runner_access_tokens.c.runner_id == runner_id))


def set_version(conn: Connection, runner_id: int, version: str | None) -> None:
    conn.execute(update(runners).where(runners.c.id == runner_id).values(version=version))


def insert_access_token(
    conn: Connection, runner_id: int, token_hash: str, expires_at: datetime
) -> None:
    conn.execute(
        runner_access_tokens.insert().values(
            token_hash=token_hash, runner_id=runner_id, expires_at=expires_at
        )
    )


class AccessTokenRow(NamedTuple):
    token_hash: str
    runner_id: int
    expires_at: datetime


_RUNNER_BY_HASH = """
    SELECT token_hash, runner_id, expires_at FROM runner_access_tokens
    WHERE token_hash = :hash
"""


def access_token(conn: Connection, token_hash: str) -> AccessTokenRow | None:
    """Read on every call of an agent: hand-written SQL (see storage/sql.py)."""
    found = sql.fetch_one(conn, _RUNNER_BY_HASH, hash=token_hash)
    if found is None:
        return None
    row = AccessTokenRow(*found)
    expires_at = utc(row.expires_at)
    assert expires_at is not None
    return row._replace(expires_at=expires_at)


def purge_access_tokens(conn: Connection, now: datetime) -> None:
    conn.execute(delete(runner_access_tokens).where(runner_access_tokens.c.expires_at <= now))


def session_of(conn: Connection, runner_id: int) -> AnyRow | None:
    query = select(runners.c.session_id, runners.c.last_seen_at).where(runners.c.id == runner_id)
    return conn.execute(query).first()


def set_session(
    conn: Connection, runner_id: int, session_id: str | None, now: datetime | None
) -> None:
    values: dict[str, object] = {"session_id": session_id, "session_started_at": now}
    if session_id is None:
        values["last_seen_at"] = None  # closed cleanly: offline at once
    else:
        values["last_seen_at"] = now
    conn.execute(update(runners).where(runners.c.id == runner_id).values(**values))


# Heartbeats are written on every poll and job call: hand-written SQL (see storage/sql.py).
_HEARTBEAT = "UPDATE runners SET last_seen_at = :now WHERE id = :id AND session_id = :session"
_TOUCH = "UPDATE runners SET last_seen_at = :now WHERE id = :id AND session_id IS NOT NULL"


def heartbeat(conn: Connection, runner_id: int, session_id: str, now: datetime) -> bool:
    return sql.execute(conn, _HEARTBEAT, now=now, id=runner_id, session=session_id) == 1


def touch(conn: Connection, runner_id: int, now: datetime) -> None:
    sql.execute(conn, _TOUCH, now=now, id=runner_id)



class HeldSession(NamedTuple):
    """A session, and the state of its runner's job as a poll would read it."""

    session_id: str
    job_status: str | None
    acknowledged: bool
    cancel_requested: bool
    cancel_delivered: bool


_HELD_SESSIONS = """
    SELECT r.session_id, j.status, j.acknowledged, j.cancel_requested, j.cancel_delivered
    FROM runners r LEFT JOIN jobs j ON j.id = r.job_id
    WHERE r.session_id IN_LIST(:ids)
"""


def held_sessions(conn: Connection, session_ids: list[str]) -> list[HeldSession]:
    """Those of the sessions some runner holds, each with its runner's job (one query)."""
    if not session_ids:
        return []
    rows = sql.fetch_all(conn, _HELD_SESSIONS, ids=session_ids)
    return [HeldSession(str(s), st, bool(a), bool(c), bool(d)) for s, st, a, c, d in rows]
