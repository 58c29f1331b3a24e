"""Dashboard sessions: a personal access token exchanged once for a random session id.

The browser keeps the id in an HttpOnly cookie; the database keeps its SHA-256 and the token
it acts through, so a session can do exactly what its token can, and no more: the same
`Principal` the API builds, checked by the same `authorize`. A token that expires or is
revoked ends its sessions with it.

Forms carry a CSRF token derived from the session id (HMAC-SHA256), which a page of another
site can neither read nor compute; the stored hash does not yield it either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from runnerhub.auth.authenticate import authenticate_token, principal_of
from runnerhub.auth.principals import Principal
from runnerhub.auth.secrets import hash_token
from runnerhub.storage import web_sessions


def sign_in(conn: Connection, token: str, now: datetime, ttl: timedelta) -> tuple[str, Principal]:
    """A new session for the token's user; 401 Bad credentials for a token that is not one."""
    principal = authenticate_token(conn, token, now)
    web_sessions.remove_expired(conn, now)
    session_id = secrets.token_urlsafe(32)
    # The token's own expiry is checked on every request (`principal`), not copied here.
    web_sessions.insert(conn, hash_token(session_id), principal.token_id, now, now + ttl)
    return session_id, principal


def principal(conn: Connection, session_id: str | None, now: datetime) -> Principal | None:
    """Who the session acts for; None for no session, an ended one or an expired token."""
    if not session_id:
        return None
    row = web_sessions.token_of(conn, hash_token(session_id), now)
    return None if row is None else principal_of(conn, row, now)


def sign_out(conn: Connection, session_id: str | None) -> None:
    if session_id:
        web_sessions.remove(conn, hash_token(session_id))


def csrf_token(session_id: str) -> str:
    return hmac.new(session_id.encode(), b"runnerhub dashboard csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_id: str, presented: str) -> bool:
    return hmac.compare_digest(csrf_token(session_id), presented)
