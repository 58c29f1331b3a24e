"""From an Authorization header to a Principal, as GitHub reads it.

`Bearer TOKEN`, `token TOKEN`, and Basic with the token as password (what the official
runner's `config.sh --pat` sends) all work. Unknown, malformed and expired tokens all answer
401 Bad credentials, so a caller learns nothing about which it was.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import datetime
from functools import lru_cache

from sqlalchemy.engine import Connection

from runnerhub.auth.principals import (
    Grant,
    Principal,
    TokenKind,
    parse_permissions,
    parse_scopes,
)
from runnerhub.auth.secrets import hash_token
from runnerhub.errors import Unauthorized
from runnerhub.storage import tokens

BAD_CREDENTIALS = "Bad credentials"
REQUIRES_AUTHENTICATION = "Requires authentication"


def token_from_header(header: str) -> str:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    if scheme in ("bearer", "token") and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized(BAD_CREDENTIALS) from None
        _, _, password = decoded.partition(":")
        if password:
            return password
    raise Unauthorized(BAD_CREDENTIALS)


def authenticate(conn: Connection, header: str | None, now: datetime) -> Principal | None:
    """The principal behind the header; None for an anonymous request."""
    if header is None:
        return None
    return authenticate_token(conn, token_from_header(header), now)


def authenticate_token(conn: Connection, token: str, now: datetime) -> Principal:
    """The principal behind a personal access token; 401 Bad credentials for any other."""
    digest = hash_token(token)
    row = tokens.api_token_by_hash(conn, digest)
    if row is None or not hmac.compare_digest(digest, row.token_hash):
        raise Unauthorized(BAD_CREDENTIALS)
    principal = principal_of(conn, row, now)
    if principal is None:
        raise Unauthorized(BAD_CREDENTIALS)
    return principal


def principal_of(conn: Connection, row: tokens.ApiTokenRow, now: datetime) -> Principal | None:
    """What a stored token lets its user do; None once it has expired."""
    if row.expires_at is not None and row.expires_at <= now:
        return None
    repo_ids = frozenset[int]()
    if row.kind == TokenKind.FINE_GRAINED and row.repository_selection == "selected":
        repo_ids = tokens.api_token_repository_ids(conn, row.id)
    grant = _grant(
        row.kind, row.scopes, row.permissions, row.resource_owner_id,
        row.repository_selection, repo_ids,
    )  # fmt: skip
    return Principal(row.user_id, row.login, row.site_admin, row.id, grant)


@lru_cache(maxsize=1024)
def _grant(
    kind: str,
    scopes: str,
    permissions: str,
    resource_owner_id: int | None,
    repository_selection: str | None,
    repository_ids: frozenset[int],
) -> Grant:
    """A token's grant from its stored columns. The token is read on every request (so a
    revoked or changed token counts at once); only the parsing of what was read is kept,
    keyed by all of it."""
    return Grant(
        kind=TokenKind(kind),
        scopes=parse_scopes(scopes),
        permissions=parse_permissions(permissions),
        resource_owner_id=resource_owner_id,
        repository_selection=repository_selection,
        repository_ids=repository_ids,
    )
