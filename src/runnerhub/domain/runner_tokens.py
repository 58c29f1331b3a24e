"""Registration and remove tokens: short-lived, bound to one scope and one purpose."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from runnerhub.auth.secrets import hash_token, runner_token
from runnerhub.domain.models import IssuedToken
from runnerhub.domain.scopes import Scope
from runnerhub.storage import tokens
from runnerhub.storage.unit_of_work import UnitOfWork


class Purpose(StrEnum):
    REGISTRATION = "registration"
    REMOVE = "remove"


def issue(
    uow: UnitOfWork, scope: Scope, purpose: Purpose, now: datetime, ttl: timedelta
) -> IssuedToken:
    token = runner_token()
    expires_at = now + ttl
    tokens.insert_runner_token(
        uow.conn,
        scope_id=scope.id,
        purpose=purpose.value,
        token_hash=hash_token(token),
        expires_at=expires_at,
        now=now,
    )
    return IssuedToken(token, expires_at)
