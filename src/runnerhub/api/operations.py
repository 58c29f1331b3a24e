"""One way every endpoint runs: the gate GitHub puts in front of each call, then a handler.

For each request, inside one database transaction:
1. authenticate the Authorization header (401 before anything else, as GitHub);
2. check `X-GitHub-Api-Version` (400 for an unsupported one);
3. spend one unit of the caller's hourly budget (403 once exhausted: nothing runs);
4. resolve the scope from the path (404) and check the route's permission (404/403);
5. run the handler, which calls one domain function and shapes its answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import anyio.to_thread
import orjson
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from runnerhub.api.ratelimit import Budget, RateLimiter
from runnerhub.auth.authenticate import authenticate
from runnerhub.auth.permissions import (
    AGENT_PERMISSIONS,
    REQUIREMENTS,
    Permission,
    authorize_runners,
    require_user,
)
from runnerhub.auth.principals import Principal, TokenKind
from runnerhub.domain.keys import RunnerKey
from runnerhub.domain.models import RunnerApplication
from runnerhub.domain.runners import Clock
from runnerhub.domain.scopes import Scope, ScopeKind
from runnerhub.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RunnerhubError,
)
from runnerhub.settings import Settings
from runnerhub.storage.database import Database

log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2022-11-28"
# The runner endpoints are identical in both versions; 2026-03-10 only drops fields that
# runnerhub's runner bodies never had (rate_limit's top-level `rate` aside).
API_VERSIONS = ("2022-11-28", "2026-03-10")
GENERAL_DOCS = "https://docs.github.com/rest"
RUNNER_DOCS = "https://docs.github.com/rest/actions/self-hosted-runners"

Resolver = Callable[[Connection, Mapping[str, Any]], Scope | None]


@dataclass(slots=True)
class AppState:
    settings: Settings
    db: Database
    limiter: RateLimiter
    catalog: list[RunnerApplication]
    mailboxes: Mailboxes = field(default_factory=lambda: Mailboxes())


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


@dataclass(slots=True)
class Reply:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Work to await after the transaction commits (a long poll), giving the final reply.
    then: Callable[[], Awaitable[Reply]] | None = None


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
            reply = _conditional(request, state, operation, incoming, reply)
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
    key = None
    if operation.needs_runner_key:
        await state.db.run(partial(_gate, state, operation, incoming, spend=False), write=False)
        key = await anyio.to_thread.run_sync(RunnerKey.generate)

    def work(conn: Connection) -> Reply:
        call = _gate(state, operation, incoming, conn, spend=operation.rate_limited)
        call.runner_key = key
        return operation.handler(call)

    reply = await state.db.run(work, write=operation.writes)
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


class Mailboxes:
    """Where long polls wait. A session's poll wakes when something is posted for it or the
    session closes; otherwise it times out. In-process for now: several server instances
    will signal each other through the database."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    async def wait(self, session_id: str, timeout: float) -> bool:
        event = self._events.setdefault(session_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            if self._events.get(session_id) is event and not event.is_set():
                del self._events[session_id]

    def wake(self, session_id: str) -> None:
        event = self._events.pop(session_id, None)
        if event is not None:
            event.set()


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


def _conditional(
    request: Request, state: AppState, operation: Operation, incoming: Incoming, reply: Reply
) -> Reply:
    """GETs carry an ETag; a matching If-None-Match gets 304, which, as on GitHub, does not
    count against the rate limit."""
    if operation.method != "GET" or reply.status != 200:
        return reply
    encoded = orjson.dumps(reply.body)
    etag = f'W/"{hashlib.sha256(encoded).hexdigest()[:40]}"'
    reply.headers["ETag"] = etag
    reply.headers["Cache-Control"] = (
        f"private, max-age={state.settings.cache_max_age}, s-maxage={state.settings.cache_max_age}"
    )
    reply.headers["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
    if request.headers.get("if-none-match") == etag:
        if incoming.budget_key and operation.rate_limited:
            state.limiter.refund(incoming.budget_key)
            incoming.headers.update(_refunded(incoming.headers))
        return Reply(None, 304, reply.headers)
    reply.body = _Encoded(encoded)
    return reply


def _refunded(headers: dict[str, str]) -> dict[str, str]:
    used = int(headers.get("x-ratelimit-used", "1")) - 1
    limit = int(headers.get("x-ratelimit-limit", "0"))
    return {"x-ratelimit-used": str(used), "x-ratelimit-remaining": str(max(limit - used, 0))}


@dataclass(frozen=True, slots=True)
class _Encoded:
    data: bytes


def error_reply(error: RunnerhubError, docs_url: str) -> Reply:
    body: dict[str, Any] = {
        "message": error.message,
        "documentation_url": docs_url if error.status in (404, 409, 422) else GENERAL_DOCS,
        "status": str(error.status),
    }
    if error.errors is not None:
        body["errors"] = error.errors
    headers = {}
    if isinstance(error, Forbidden) and not isinstance(error, RateLimited):
        if error.accepted_scopes is not None:
            headers["X-Accepted-OAuth-Scopes"] = error.accepted_scopes
        if error.accepted_permissions:
            headers["X-Accepted-GitHub-Permissions"] = error.accepted_permissions
    return Reply(body, error.status, headers)


def base_headers(api_version: str) -> dict[str, str]:
    selected = api_version if api_version in API_VERSIONS else DEFAULT_API_VERSION
    return {
        "X-GitHub-Api-Version-Selected": selected,
        "X-GitHub-Media-Type": "github.v3; format=json",
        "X-GitHub-Request-Id": request_id(),
    }


def request_id() -> str:
    raw = secrets.token_hex(14).upper()
    return f"{raw[:4]}:{raw[4:8]}:{raw[8:14]}:{raw[14:20]}:{raw[20:28]}"


def render(reply: Reply, headers: dict[str, str]) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=headers)
    data = reply.body.data if isinstance(reply.body, _Encoded) else orjson.dumps(reply.body)
    return Response(data, reply.status, headers, media_type="application/json; charset=utf-8")
