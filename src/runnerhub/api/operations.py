"""One way every endpoint runs: the gate GitHub puts in front of each call, then a handler.

For each request, inside one database transaction:
1. authenticate the Authorization header (401 before anything else, as GitHub);
2. check `X-GitHub-Api-Version` (400 for an unsupported one);
3. spend one unit of the caller's hourly budget (403 once exhausted: nothing runs);
4. resolve the scope from the path (404) and check the route's permission (404/403);
5. run the handler, which calls one domain function and shapes its answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import anyio.to_thread
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from runnerhub.api.mailboxes import Mailboxes
from runnerhub.api.ratelimit import Budget, RateLimiter
from runnerhub.api.responses import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    GENERAL_DOCS,
    RUNNER_DOCS,
    Reply,
    base_headers,
    conditional,
    error_reply,
    render,
)
from runnerhub.auth.authenticate import authenticate
from runnerhub.auth.permissions import (
    AGENT_PERMISSIONS,
    REQUIREMENTS,
    Permission,
    authorize_runners,
    require_user,
)
from runnerhub.auth.principals import Principal, TokenKind
from runnerhub.domain.keys import KeyPool, RunnerKey
from runnerhub.domain.models import RunnerApplication
from runnerhub.domain.runners import Clock
from runnerhub.domain.scopes import Scope, ScopeKind
from runnerhub.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RunnerhubError,
)
from runnerhub.settings import Settings
from runnerhub.storage.database import Database

log = logging.getLogger(__name__)


Resolver = Callable[[Connection, Mapping[str, Any]], Scope | None]


@dataclass(slots=True)
class AppState:
    settings: Settings
    db: Database
    limiter: RateLimiter
    catalog: list[RunnerApplication]
    keys: KeyPool
    mailboxes: Mailboxes = field(default_factory=Mailboxes)


@dataclass(slots=True)
class Call:
    """What a handler gets: the open transaction, who is calling, and the request's parts."""

    conn: Connection
    state: AppState
    principal: Principal | None
    scope: Scope | None
    path: Mapping[str, Any]
    query: Mapping[str, str]
    body: bytes
    clock: Clock
    url: str  # this request's URL, without the query
    api_url: str  # the API root this request came through ("…" or "…/api/v3")
    web_url: str  # the server root
    api_version: str
    budget_key: str
    budget_limit: int
    authorization: str | None = None
    runner_key: RunnerKey | None = None

    @property
    def scope_or_fail(self) -> Scope:
        assert self.scope is not None, "a scoped operation has a scope"
        return self.scope


Handler = Callable[[Call], Reply]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    handler: Handler
    permission: Permission
    operation_id: str
    scope_kind: ScopeKind | None = None
    resolve: Resolver | None = None
    docs_url: str = GENERAL_DOCS
    needs_runner_key: bool = False  # made off the event loop, after a permission preflight
    rate_limited: bool = True
    records: bool = False  # a GET that writes (the agent's heartbeat poll)

    @property
    def writes(self) -> bool:
        return self.records or self.method != "GET"


@dataclass(slots=True)
class Incoming:
    """The parts of a request the gate reads, taken before the transaction starts."""

    authorization: str | None
    api_version: str
    client: str
    path: dict[str, Any]
    query: dict[str, str]
    body: bytes
    url: str
    api_url: str
    web_url: str
    headers: dict[str, str] = field(default_factory=dict)  # response headers gathered
    budget_key: str | None = None


def endpoint(operation: Operation) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        state: AppState = request.app.state.runnerhub
        incoming = None
        try:
            incoming = await _incoming(request, state.settings.max_body_bytes)
            reply = await _serve(state, operation, incoming)
            reply = conditional(request, state, operation, incoming, reply)
        except RunnerhubError as error:
            reply = error_reply(error, operation.docs_url)
        except Exception:
            # Never a bare traceback page: GitHub's own body for an unexpected failure.
            log.exception("unhandled error in %s", operation.operation_id)
            reply = Reply({"message": "Server Error", "status": "500"}, 500)
        headers = base_headers(incoming.api_version if incoming else DEFAULT_API_VERSION)
        headers.update(incoming.headers if incoming else {})
        headers.update(reply.headers)
        return render(reply, headers)

    run.__name__ = operation.operation_id.replace("/", "_").replace("-", "_")
    return run


async def _serve(state: AppState, operation: Operation, incoming: Incoming) -> Reply:
    key = state.keys.take() if operation.needs_runner_key else None
    if operation.needs_runner_key and key is None:
        # A key costs ~40 ms of CPU: made only for a caller the gate lets through.
        await state.db.run(partial(_gate, state, operation, incoming, spend=False), write=False)
        key = await anyio.to_thread.run_sync(RunnerKey.generate)

    def work(conn: Connection) -> Reply:
        call = _gate(state, operation, incoming, conn, spend=operation.rate_limited)
        call.runner_key = key
        return operation.handler(call)

    try:
        reply = await state.db.run(work, write=operation.writes)
    except RunnerhubError:
        if key is not None:  # refused and rolled back: nobody saw the key, so it can serve again
            state.keys.put_back(key)
        raise
    if reply.then is not None:
        reply = await reply.then()
    return reply


def _gate(
    state: AppState, operation: Operation, incoming: Incoming, conn: Connection, *, spend: bool
) -> Call:
    settings = state.settings
    now = datetime.now(UTC)
    agent = operation.permission in AGENT_PERMISSIONS
    # Agents authenticate with runner credentials, checked by their handlers; they poll
    # all day, so the REST budget does not apply to them.
    principal = None if agent else authenticate(conn, incoming.authorization, now)
    if incoming.api_version not in API_VERSIONS:
        raise BadRequest(unsupported_version_message(incoming.api_version))
    if principal is not None and principal.grant.kind is TokenKind.CLASSIC:
        incoming.headers["X-OAuth-Scopes"] = ", ".join(sorted(principal.grant.scopes))
    budget_key, budget_limit = "", 0
    if not agent:
        budget_key, budget_limit = _spend_budget(
            state.limiter, settings, principal, incoming, now, spend=spend
        )
    scope = None
    if operation.scope_kind is not None:
        requirement = REQUIREMENTS[operation.scope_kind]
        incoming.headers["X-Accepted-OAuth-Scopes"] = requirement.accepted_scopes()
        accepted = requirement.accepted_permissions(operation.writes)
        if accepted:
            incoming.headers["X-Accepted-GitHub-Permissions"] = accepted
    if operation.resolve is not None:
        scope = operation.resolve(conn, incoming.path)
        if scope is None:
            require_user(principal)
            raise NotFound()
        authorize_runners(conn, principal, scope, operation.permission)
    elif operation.permission is Permission.AUTHENTICATED:
        require_user(principal)
    clock = Clock(now, timedelta(seconds=settings.offline_after_seconds))
    return Call(
        conn=conn,
        state=state,
        principal=principal,
        scope=scope,
        path=incoming.path,
        query=incoming.query,
        body=incoming.body,
        clock=clock,
        url=incoming.url,
        api_url=incoming.api_url,
        web_url=incoming.web_url,
        api_version=incoming.api_version,
        budget_key=budget_key,
        budget_limit=budget_limit,
        authorization=incoming.authorization,
    )


def _spend_budget(
    limiter: RateLimiter,
    settings: Settings,
    principal: Principal | None,
    incoming: Incoming,
    now: datetime,
    *,
    spend: bool,
) -> tuple[str, int]:
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
    incoming.budget_key = key
    if not spend:
        budget, allowed = limiter.peek(key, limit, now.timestamp()), True
    else:
        budget, allowed = limiter.spend(key, limit, now.timestamp())
    incoming.headers.update(budget.headers())
    if not allowed:
        raise RateLimited(exhausted)
    return key, limit


def budget_of(call: Call) -> Budget:
    return call.state.limiter.peek(call.budget_key, call.budget_limit, call.clock.now.timestamp())


def unsupported_version_message(version: str) -> str:
    supported = ", ".join(f'"{v}"' for v in reversed(API_VERSIONS))
    return (
        f'The version you specified in the "X-GitHub-API-Version" request header, "{version}", '
        f"is not a supported version. The following versions are currently supported: "
        f"{supported} (most recent first)."
    )


async def _incoming(request: Request, max_body: int) -> Incoming:
    body = b""
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        body = await _read_body(request, max_body)
    headers = request.headers
    web_url = f"{request.url.scheme}://{request.url.netloc}"
    api_url = web_url + request.scope.get("root_path", "")
    return Incoming(
        authorization=headers.get("authorization"),
        api_version=headers.get("x-github-api-version", DEFAULT_API_VERSION),
        client=request.client.host if request.client else "unknown",
        path=dict(request.path_params),
        query=dict(request.query_params),
        body=body,
        url=web_url + request.url.path,
        api_url=api_url,
        web_url=web_url,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = [
    "GENERAL_DOCS",
    "RUNNER_DOCS",
    "AppState",
    "Call",
    "Operation",
    "Reply",
    "Resolver",
    "base_headers",
    "endpoint",
    "render",
]
