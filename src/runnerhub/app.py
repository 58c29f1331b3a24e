"""create_app: the only place the web application is assembled."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.convertors import register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from runnerhub.api import accounts as account_endpoints
from runnerhub.api import (
    actions,
    agent_protocol,
    environments,
    graphql,
    observability,
    openapi,
    testing_hooks,
    wire_hooks,
)
from runnerhub.api.access_log import AccessLog
from runnerhub.api.hooks import all_hook_operations
from runnerhub.api.incoming import IdConvertor
from runnerhub.api.operations import (
    GENERAL_DOCS,
    AppState,
    Operation,
    Reply,
    base_headers,
    endpoint,
    render,
)
from runnerhub.api.runner_groups import all_runner_group_operations
from runnerhub.api.runners import runner_operations
from runnerhub.api.scopes import SCOPE_MOUNTS
from runnerhub.coordination.mailboxes import Mailboxes, MemoryMailboxes, WakeOnEvents
from runnerhub.coordination.ratelimit import MemoryRateLimiter, RateLimiter
from runnerhub.coordination.shared_ratelimit import SharedRateLimiter
from runnerhub.coordination.wakeups import PostgresMailboxes
from runnerhub.domain import downloads
from runnerhub.domain.models import RunnerApplication
from runnerhub.hookshot import Hookshot
from runnerhub.services import Service, Services
from runnerhub.services.hook_deliverer import HookDeliverer
from runnerhub.services.key_pool import KeyPool
from runnerhub.services.sweeper import LostJobSweeper, StaleRunnerSweeper
from runnerhub.services.webhook_worker import WebhookWorker
from runnerhub.settings import Settings
from runnerhub.storage import dialect
from runnerhub.storage.database import Database
from runnerhub.web.routes import dashboard_routes, root_for_browsers

GHES_PREFIX = "/api/v3"

register_url_convertor("id", IdConvertor())


def all_operations() -> list[Operation]:
    operations = [op for mount in SCOPE_MOUNTS for op in runner_operations(mount)]
    operations += list(actions.OPERATIONS) + list(environments.OPERATIONS)
    operations += all_runner_group_operations()
    operations += list(account_endpoints.OPERATIONS) + list(agent_protocol.OPERATIONS)
    operations += all_hook_operations()
    operations += list(graphql.OPERATIONS) + list(observability.OPERATIONS)
    return operations + list(testing_hooks.OPERATIONS)


def routes(operations: Iterable[Operation]) -> list[BaseRoute]:
    return [
        Route(op.path, endpoint(op), methods=[op.method], include_in_schema=False)
        for op in operations
    ]


def runner_catalog(settings: Settings) -> list[RunnerApplication]:
    if settings.runner_catalog_file is not None:
        return downloads.catalog_from_file(settings.runner_catalog_file)
    return downloads.default_catalog(settings.runner_version, settings.runner_download_base)


async def not_found(request: Request, exc: Exception) -> Response:
    # Unknown paths and unsupported methods both answer 404, as GitHub does (never 405).
    body = {"message": "Not Found", "documentation_url": GENERAL_DOCS, "status": "404"}
    return render(Reply(body, 404), base_headers("2022-11-28"))


def coordination(
    settings: Settings, database: Database
) -> tuple[RateLimiter, Mailboxes, list[Service]]:
    """What requests share beyond a transaction: in this process on SQLite; across every
    instance on the same PostgreSQL (README, "Several instances")."""
    if database.is_sqlite:
        memory = MemoryMailboxes()
        database.subscribers.append(WakeOnEvents(memory))
        return MemoryRateLimiter(), memory, []
    shared = PostgresMailboxes(database, catch_up_seconds=settings.wake_catch_up_seconds)
    database.subscribers.append(WakeOnEvents(shared))  # this instance's polls, after commit
    database.subscribers.append(shared.committed)  # and the others', by NOTIFY
    limiter = SharedRateLimiter(database, sync_seconds=settings.rate_limit_sync_seconds)
    return limiter, shared, [shared, limiter]


def create_app(settings: Settings, db: Database | None = None) -> Starlette:
    database = db or Database(settings.resolved_database_url())
    limiter, mailboxes, shared = coordination(settings, database)
    sweeps = (StaleRunnerSweeper(settings, database), LostJobSweeper(settings, database))
    state = AppState(
        settings,
        database,
        limiter,
        mailboxes,
        runner_catalog(settings),
        KeyPool(settings.runner_key_pool_size),
        sweeps=sweeps,
    )
    delivering: list[Service]
    if settings.webhook_worker and not dialect.is_in_memory(database.url):
        worker = WebhookWorker(settings)  # its own process: services/webhook_worker.py
        database.subscribers.append(worker.committed)
        state.deliverer, delivering = worker, [worker]
    else:
        hookshot = Hookshot(settings.webhook_networks)
        public = settings.public_url.rstrip("/")
        render = wire_hooks.render(public, public)
        deliverer = HookDeliverer(settings, database, hookshot.send, render)
        database.subscribers.append(deliverer.committed)
        state.deliverer, delivering = deliverer, [hookshot, deliverer]
    background = Services([*shared, *sweeps, state.keys, *delivering])

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await background.start()
        yield
        await background.stop()
        if db is None:
            database.dispose()

    operations = all_operations()
    api = routes(op for op in operations if op.rest)  # at the root and under /api/v3
    # GraphQL (/graphql, /api/graphql) and the server's own (/metrics, /healthz, /readyz,
    # /openapi.json, /docs).
    own_paths = [
        *routes(op for op in operations if not op.rest), *observability.ROUTES, *openapi.ROUTES
    ]
    # GET /: the API index for API clients, a redirect to the dashboard for browsers.
    (api_root,) = (op for op in operations if op.path == "/")
    root = Route("/", root_for_browsers(endpoint(api_root)), methods=["GET"])
    app = Starlette(
        routes=[Mount(GHES_PREFIX, routes=api), root, *api, *own_paths, *dashboard_routes()],
        exception_handlers={HTTPException: not_found},
        middleware=[Middleware(AccessLog)],
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.runnerhub = state
    # What /openapi.json describes: the testing hooks answer 404 unless testing is on.
    app.state.operations = [
        op for op in operations if settings.testing or op not in testing_hooks.OPERATIONS
    ]
    return app
