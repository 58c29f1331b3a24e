"""One way every endpoint runs: read the request, pass the gate (api/gate.py) and run the
handler inside one unit of work, then render the reply GitHub's way.

A handler gets a `Call`: the unit of work, who passed the gate and into what scope, and the
request's parts. It calls one domain function and shapes the answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response

from runnerhub import clock, log_format
from runnerhub.api import incoming as incoming_request
from runnerhub.api.gate import Passed, Resolver, count_failed_login, gate
from runnerhub.api.incoming import Incoming
from runnerhub.api.metrics import Metrics
from runnerhub.api.responses import (
    DEFAULT_API_VERSION,
    GENERAL_DOCS,
    RUNNER_DOCS,
    Reply,
    base_headers,
    conditional,
    error_reply,
    render,
)
from runnerhub.auth.permissions import Permission
from runnerhub.auth.principals import Principal
from runnerhub.coordination.mailboxes import Mailboxes
from runnerhub.coordination.ratelimit import Budget, RateLimiter
from runnerhub.domain.keys import RunnerKey
from runnerhub.domain.models import RunnerApplication
from runnerhub.domain.runners import Clock
from runnerhub.domain.scopes import Scope, ScopeKind
from runnerhub.errors import RunnerhubError, Unauthorized
from runnerhub.services.hook_deliverer import HookDeliverer
from runnerhub.services.key_pool import KeyPool
from runnerhub.services.sweeper import Periodic
from runnerhub.services.webhook_worker import WebhookWorker
from runnerhub.settings import Settings
from runnerhub.storage.database import Database
from runnerhub.storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(slots=True)
class AppState:
    settings: Settings
    db: Database
    limiter: RateLimiter
    mailboxes: Mailboxes
    catalog: list[RunnerApplication]
    keys: KeyPool
    metrics: Metrics = field(default_factory=Metrics)
    sweeps: tuple[Periodic, ...] = ()  # the background sweeps, for testing_hooks to run
    deliverer: HookDeliverer | WebhookWorker | None = None  # for testing_hooks to wake


@dataclass(slots=True)
class Call:
    """What a handler gets: the open unit of work, who is calling, and the request."""

    uow: UnitOfWork
    state: AppState
    request: Incoming
    passed: Passed
    runner_key: RunnerKey | None = None  # routes with needs_runner_key

    @property
    def conn(self) -> Connection:
        return self.uow.conn

    @property
    def clock(self) -> Clock:
        return self.passed.clock

    @property
    def principal(self) -> Principal | None:
        return self.passed.principal

    @property
    def scope(self) -> Scope:
        assert self.passed.scope is not None, "a scoped operation has a scope"
        return self.passed.scope

    @property
    def runner_id(self) -> int:
        assert self.passed.runner_id is not None, "a runner-session operation has a runner"
        return self.passed.runner_id

    @property
    def path(self) -> Mapping[str, Any]:
        return self.request.path

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query

    @property
    def body(self) -> bytes:
        return self.request.body

    @property
    def url(self) -> str:
        return self.request.url

    @property
    def api_url(self) -> str:
        return self.request.api_url

    @property
    def web_url(self) -> str:
        return self.request.web_url


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
    reads_only: bool = False  # a POST that only reads (GraphQL: queries, no mutations)
    # GitHub's REST API, served at / and /api/v3 and checked against GitHub's OpenAPI
    # descriptions; False for GraphQL, served at its own two paths only.
    rest: bool = True

    @property
    def writes(self) -> bool:
        return self.records or (self.method != "GET" and not self.reads_only)


def endpoint(operation: Operation) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        started = time.perf_counter()
        state: AppState = request.app.state.runnerhub
        context = log_format.current()
        if context is not None:
            context.operation_id = operation.operation_id
        incoming = None
        try:
            incoming = await incoming_request.read(
                request, state.settings.public_url, state.settings.max_body_bytes
            )
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
        state.metrics.observe(operation.operation_id, reply.status, time.perf_counter() - started)
        return render(reply, headers)

    run.__name__ = operation.operation_id.replace("/", "_").replace("-", "_")
    return run


async def _serve(state: AppState, operation: Operation, incoming: Incoming) -> Reply:
    key = state.keys.take() if operation.needs_runner_key else None
    try:
        if operation.needs_runner_key and key is None:
            # A key costs ~40 ms of CPU: made only for a caller the gate lets through.
            await state.db.run(lambda uow: _pass(state, operation, incoming, uow, spend=False),
                               write=False)  # fmt: skip
            key = await anyio.to_thread.run_sync(RunnerKey.generate)

        def work(uow: UnitOfWork) -> Reply:
            passed = _pass(state, operation, incoming, uow, spend=operation.rate_limited)
            _tell_log(passed)
            return operation.handler(Call(uow, state, incoming, passed, key))

        reply = await state.db.run(work, write=operation.writes)
    except RunnerhubError as error:
        if isinstance(error, Unauthorized) and error.failed_login:
            count_failed_login(state.limiter, state.settings, incoming.client, clock.now())
        if key is not None:  # refused and rolled back: nobody saw the key, so it can serve again
            state.keys.put_back(key)
        raise
    if reply.then is not None:
        reply = await reply.then()
    return reply


def _tell_log(passed: Passed) -> None:
    """Who the request's log lines name, once the gate knows."""
    context = log_format.current()
    if context is not None:
        context.user = passed.principal.login if passed.principal is not None else None
        context.runner_id = passed.runner_id


def _pass(
    state: AppState, operation: Operation, incoming: Incoming, uow: UnitOfWork, *, spend: bool
) -> Passed:
    return gate(
        uow,
        state.settings,
        state.limiter,
        operation.permission,
        operation.scope_kind,
        operation.resolve,
        incoming,
        spend=spend,
    )


def budget_of(call: Call) -> Budget:
    request = call.request
    assert request.budget_key is not None, "the gate spent from a budget"
    return call.state.limiter.peek(
        request.budget_key, request.budget_limit, call.clock.now.timestamp()
    )


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
