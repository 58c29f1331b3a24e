"""Who may see a dashboard page, decided as the API's gate decides (api/gate.py): the
session's principal is the one its token makes, the scope is resolved by the API's own
resolvers, and `authorize` checks the page's permission in it: 404 for a scope the caller
may not see, 403 for one they may see but not administer.

State changes are POSTs carrying a CSRF token: the session's (auth/sessions.py), or on the
sign-in form, a random value also set in a cookie (double submit). A cross-site Origin is
refused outright.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runnerhub.api.incoming import check_path
from runnerhub.api.scopes import ScopeMount
from runnerhub.auth import sessions
from runnerhub.auth.permissions import Access, Permission, authorize
from runnerhub.auth.principals import Principal
from runnerhub.domain.scopes import Scope
from runnerhub.errors import Forbidden, NotFound
from runnerhub.storage.unit_of_work import UnitOfWork

SESSION_COOKIE = "runnerhub_session"
SIGN_IN_COOKIE = "runnerhub_sign_in"  # the sign-in form's CSRF value (double submit)
CSRF_REFUSED = "The form has expired or did not come from this site. Please try again."


class SignInRequired(Exception):
    """No session, or an ended one: the browser goes to the sign-in page."""


@dataclass(frozen=True, slots=True)
class Admitted:
    principal: Principal | None
    scope: Scope | None


def admit(
    uow: UnitOfWork,
    permission: Permission,
    mount: ScopeMount | None,
    path: Mapping[str, Any],
    session_id: str | None,
    now: datetime,
) -> Admitted:
    check_path(dict(path))
    principal = sessions.principal(uow.conn, session_id, now)
    if permission.access is Access.PUBLIC:
        return Admitted(principal, None)
    if principal is None:
        raise SignInRequired()
    if mount is None:
        assert permission.access is Access.USER, f"{permission} needs a scope"
        return Admitted(principal, None)
    scope = mount.resolve(uow, path)
    if scope is None:
        raise NotFound()
    authorize(uow.conn, principal, scope, permission)
    return Admitted(principal, scope)


def check_csrf(expected: str | None, presented: str | None) -> None:
    """`expected`: the session's CSRF token, or on the sign-in form the cookie's value."""
    if not expected or not presented or not hmac.compare_digest(expected, presented):
        raise Forbidden(CSRF_REFUSED)


def same_origin(origin: str | None, ours: Collection[str]) -> bool:
    """A POST without Origin (older browsers, curl) passes; one from elsewhere does not.
    Ours: the request's own origin and the public URL's (behind a proxy)."""
    return origin is None or origin in ours
