"""The gate GitHub puts in front of each call, run inside the request's transaction:

1. the path names something that can exist (404 otherwise, before anything else);
2. the caller authenticates as the route's permission says: a personal access token, a
   registration or remove token (RemoteAuth), or a runner access token (401; wrong
   credentials count against the caller's address, and past the limit are refused unread);
3. `X-GitHub-Api-Version` is supported (400);
4. one unit of the caller's hourly budget is spent (403 once exhausted: nothing runs);
5. the scope the path names is resolved (404) and the permission checked in it (404/403).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from runnerhub import clock
from runnerhub.api.incoming import Incoming, check_path
from runnerhub.api.responses import API_VERSIONS
from runnerhub.auth.authenticate import authenticate
from runnerhub.auth.permissions import Access, Permission, authorize, require_user
from runnerhub.auth.principals import Principal, TokenKind
from runnerhub.coordination.ratelimit import RateLimiter
from runnerhub.domain import agent_sessions
from runnerhub.domain.runners import Clock
from runnerhub.domain.scopes import Scope, ScopeKind
from runnerhub.errors import BadRequest, Forbidden, NotFound, RateLimited, Unauthorized
from runnerhub.settings import Settings
from runnerhub.storage.unit_of_work import UnitOfWork

Resolver = Callable[[UnitOfWork, Mapping[str, Any]], Scope | None]

TOO_MANY_LOGINS = "Maximum number of login attempts exceeded. Please try again later."


class Passed:
    """Who the gate let through, and into what."""

    __slots__ = ("clock", "principal", "runner_id", "runner_token", "scope")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.principal: Principal | None = None
        self.scope: Scope | None = None
        self.runner_id: int | None = None  # runner-session routes: the agent's runner
        self.runner_token: str | None = None  # runner-token routes: the RemoteAuth token


def gate(
    uow: UnitOfWork,
    settings: Settings,
    limiter: RateLimiter,
    permission: Permission,
    scope_kind: ScopeKind | None,
    resolve: Resolver | None,
    incoming: Incoming,
    *,
    spend: bool,
) -> Passed:
    now = clock.now()
    passed = Passed(Clock(now, timedelta(seconds=settings.offline_after_seconds)))
    check_path(incoming.path)
    _authenticate(uow, settings, limiter, permission, incoming, passed)
    if incoming.api_version not in API_VERSIONS:
        raise BadRequest(unsupported_version_message(incoming.api_version))
    if not permission.agent:  # agents poll all day: the REST budget is not theirs
        _spend_budget(limiter, settings, passed.principal, incoming, now, spend=spend)
    if scope_kind is not None:
        _accepted_headers(permission, scope_kind, incoming)
    if resolve is not None:
        passed.scope = resolve(uow, incoming.path)
        if passed.scope is None:
            require_user(passed.principal)
            raise NotFound()
        authorize(uow.conn, passed.principal, passed.scope, permission)
    elif permission.access is Access.USER:
        require_user(passed.principal, permission.anonymous_message)
    return passed


def _authenticate(
    uow: UnitOfWork,
    settings: Settings,
    limiter: RateLimiter,
    permission: Permission,
    incoming: Incoming,
    passed: Passed,
) -> None:
    access = permission.access
    if incoming.authorization is not None or access is Access.RUNNER_CREDENTIALS:
        refuse_if_locked_out(limiter, settings, incoming.client, passed.clock.now)
    if access is Access.RUNNER_CREDENTIALS:
        return  # a signed assertion in the body, checked by the handler
    if access is Access.RUNNER_SESSION:
        passed.runner_id = agent_sessions.runner_of(uow, incoming.authorization, passed.clock.now)
    elif access is Access.RUNNER_TOKEN:
        passed.runner_token = remote_auth_token(incoming.authorization)
    else:
        passed.principal = authenticate(uow.conn, incoming.authorization, passed.clock.now)
        grant = passed.principal.grant if passed.principal else None
        if grant is not None and grant.kind is TokenKind.CLASSIC:
            incoming.headers["X-OAuth-Scopes"] = ", ".join(sorted(grant.scopes))


def remote_auth_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme != "RemoteAuth" or not token.strip():
        raise Unauthorized(
            "Requires `Authorization: RemoteAuth <registration or remove token>`.",
            failed_login=False,
        )
    return token.strip()


def _login_key(client: str) -> str:
    return f"login:{client}"


def refuse_if_locked_out(
    limiter: RateLimiter, settings: Settings, client: str, now: datetime
) -> None:
    budget = limiter.peek(_login_key(client), settings.failed_logins_per_hour, now.timestamp())
    if budget.remaining == 0:
        raise Forbidden(TOO_MANY_LOGINS)


def count_failed_login(
    limiter: RateLimiter, settings: Settings, client: str, now: datetime
) -> None:
    limiter.spend(_login_key(client), settings.failed_logins_per_hour, now.timestamp())


def _accepted_headers(permission: Permission, kind: ScopeKind, incoming: Incoming) -> None:
    requirement = permission.requirement(kind)
    incoming.headers["X-Accepted-OAuth-Scopes"] = requirement.accepted_scopes()
    accepted = requirement.accepted_permissions(permission.level)
    if accepted:
        incoming.headers["X-Accepted-GitHub-Permissions"] = accepted


def _spend_budget(
    limiter: RateLimiter,
    settings: Settings,
    principal: Principal | None,
    incoming: Incoming,
    now: datetime,
    *,
    spend: bool,
) -> None:
    if principal is None:
        key, limit = f"ip:{incoming.client}", settings.rate_limit_unauthenticated_per_hour
        exhausted = (
            f"API rate limit exceeded for {incoming.client}. (But here's the good news: "
            "Authenticated requests get a higher rate limit. Check out the documentation "
            "for more details.)"
        )
    else:
        key, limit = f"user:{principal.user_id}", settings.rate_limit_per_hour
        exhausted = f"API rate limit exceeded for user ID {principal.user_id}."
    incoming.budget_key, incoming.budget_limit = key, limit
    if not spend:
        budget, allowed = limiter.peek(key, limit, now.timestamp()), True
    else:
        budget, allowed = limiter.spend(key, limit, now.timestamp())
    incoming.headers.update(budget.headers())
    if not allowed:
        raise RateLimited(exhausted)


def unsupported_version_message(version: str) -> str:
    supported = ", ".join(f'"{v}"' for v in reversed(API_VERSIONS))
    return (
        f'The version you specified in the "X-GitHub-API-Version" request header, "{version}", '
        f"is not a supported version. The following versions are currently supported: "
        f"{supported} (most recent first)."
    )
