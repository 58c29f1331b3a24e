"""The running agent: key-signed access tokens, its one session, and its heartbeat.

An agent proves who it is with a JWT signed (RS256) by the private key whose public half it
registered (OAuth 2 client credentials with a client assertion) and gets a short-lived
access token. Deleting the runner deletes its tokens: stolen ones stop working at once.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

import jwt

from runnerhub.auth.secrets import hash_token
from runnerhub.domain import journal
from runnerhub.domain.events import SessionClosed
from runnerhub.errors import Conflict, NotFound, Unauthorized
from runnerhub.storage import agents
from runnerhub.storage.unit_of_work import UnitOfWork

ACCESS_TOKEN_TTL = timedelta(minutes=15)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def issue_access_token(
    uow: UnitOfWork, client_id: str, assertion: str, audience: str, now: datetime
) -> tuple[str, int]:
    conn = uow.conn
    runner = agents.runner_by_client_id(conn, client_id)
    if runner is None or not runner.public_key:
        raise Unauthorized("invalid_client: no runner has this client id")
    try:
        claims = jwt.decode(
            assertion,
            runner.public_key,
            algorithms=["RS256"],
            audience=audience,
            options={"require": ["exp", "iat", "sub", "aud"]},
            leeway=30,
        )
    except jwt.PyJWTError as error:
        raise Unauthorized(f"invalid_client: {error}") from None
    if claims.get("sub") != client_id or claims.get("iss", client_id) != client_id:
        raise Unauthorized("invalid_client: the assertion is for another client")
    token = "rha_" + secrets.token_urlsafe(32)
    agents.purge_access_tokens(conn, now)
    agents.insert_access_token(conn, runner.id, hash_token(token), now + ACCESS_TOKEN_TTL)
    return token, int(ACCESS_TOKEN_TTL.total_seconds())


def runner_of(uow: UnitOfWork, authorization: str | None, now: datetime) -> int:
    """The runner behind `Authorization: Bearer <access token>`."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Requires a runner access token.", failed_login=False)
    row = agents.access_token(uow.conn, hash_token(token.strip()))
    if row is None:
        raise Unauthorized("The runner access token is not valid.")
    if row.expires_at <= now:  # the agent's routine refresh, not a guess
        raise Unauthorized("The runner access token is not valid.", failed_login=False)
    return int(row.runner_id)


def open_session(uow: UnitOfWork, runner_id: int, now: datetime, window: timedelta) -> str:
    """A runner holds one session. A session whose agent stopped polling longer than the
    liveness window ago is abandoned and may be taken over."""
    current = agents.session_of(uow.conn, runner_id)
    if current is None:
        raise NotFound("The runner no longer exists.")
    alive = current.last_seen_at is not None and now - current.last_seen_at < window
    if current.session_id is not None and alive:
        raise Conflict("A session for this runner already exists.")
    session_id = str(uuid.uuid4())
    agents.set_session(uow.conn, runner_id, session_id, now)
    journal.record(
        uow, "session.opened", "runner %d opened a session", runner_id, runner_id=runner_id
    )
    return session_id


def close_session(uow: UnitOfWork, runner_id: int, session_id: str) -> None:
    """Close the session; its pending long poll is answered once this commits."""
    current = agents.session_of(uow.conn, runner_id)
    if current is None or current.session_id != session_id:
        raise NotFound("No such session.")
    agents.set_session(uow.conn, runner_id, None, None)
    uow.emit(SessionClosed(runner_id, session_id))
    journal.record(
        uow, "session.closed", "runner %d closed its session", runner_id, runner_id=runner_id
    )


def beat(uow: UnitOfWork, runner_id: int, session_id: str, now: datetime) -> None:
    if not agents.heartbeat(uow.conn, runner_id, session_id, now):
        raise NotFound("No such session.")


def touch(uow: UnitOfWork, runner_id: int, now: datetime) -> None:
    """Any call of a runner that holds a session shows it alive (a job's log posts too)."""
    agents.touch(uow.conn, runner_id, now)


def with_news(uow: UnitOfWork, session_ids: list[str]) -> list[str]:
    """Those of the sessions whose pending long poll would be answered now: the session was
    closed or taken over, its runner is gone, or its runner's job has a message the agent has
    not had (the job until acknowledged, its cancellation until delivered; as
    jobs.message_for). What a lost wake-up would have told, found from the state itself."""
    held = {row.session_id: row for row in agents.held_sessions(uow.conn, session_ids)}
    news = []
    for session_id in session_ids:
        row = held.get(session_id)
        if row is None or (row.job_status == "in_progress" and _has_message(row)):
            news.append(session_id)
    return news


def _has_message(row: agents.HeldSession) -> bool:
    if row.cancel_requested:
        return not row.cancel_delivered
    return not row.acknowledged
