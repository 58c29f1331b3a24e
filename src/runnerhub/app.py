"""create_app: the only place the web application is assembled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from runnerhub.api import accounts as account_endpoints
from runnerhub.api import agent_protocol
from runnerhub.api.operations import (
    GENERAL_DOCS,
    AppState,
    Operation,
    Reply,
    base_headers,
    endpoint,
    render,
)
from runnerhub.api.ratelimit import RateLimiter
from runnerhub.api.runners import ScopeMount, runner_operations
from runnerhub.domain import cleanup, downloads
from runnerhub.domain.keys import KeyPool
from runnerhub.domain.models import RunnerApplication
from runnerhub.domain.scopes import ScopeKind
from runnerhub.settings import Settings
from runnerhub.storage import accounts
from runnerhub.storage.database import Database

GHES_PREFIX = "/api/v3"

SCOPE_MOUNTS = (
    ScopeMount(
        ScopeKind.ENTERPRISE,
        "/enterprises/{enterprise}",
        lambda conn, path: accounts.enterprise_scope(conn, path["enterprise"]),
        "enterprise",
        "enterprise-admin",
    ),
    ScopeMount(
        ScopeKind.ORGANIZATION,
        "/orgs/{org}",
        lambda conn, path: accounts.organization_scope(conn, path["org"]),
        "org",
        "actions",
    ),
    ScopeMount(
        ScopeKind.REPOSITORY,
        "/repos/{owner}/{repo}",
        lambda conn, path: accounts.repository_scope(conn, path["owner"], path["repo"]),
        "repo",
        "actions",
    ),
)


def all_operations() -> list[Operation]:
    operations = [op for mount in SCOPE_MOUNTS for op in runner_operations(mount)]
    return operations + list(account_endpoints.OPERATIONS) + list(agent_protocol.OPERATIONS)


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


async def sweep_stale_runners(settings: Settings, db: Database) -> None:
    offline = timedelta(seconds=settings.remove_offline_after_seconds)
    ephemeral = timedelta(seconds=settings.remove_offline_ephemeral_after_seconds)
    while True:
        try:
            await db.run(
                lambda conn: cleanup.remove_stale_runners(
                    conn, datetime.now(UTC), offline=offline, ephemeral_offline=ephemeral
                ),
                write=True,
            )
        except Exception:  # a failed sweep is retried next round; serving goes on
            logging.getLogger(__name__).exception("removing stale runners failed")
        await asyncio.sleep(settings.cleanup_interval_seconds)


def create_app(settings: Settings, db: Database | None = None) -> Starlette:
    database = db or Database(settings.resolved_database_url())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(sweep_stale_runners(settings, database))
        state.keys.start()
        yield
        sweeper.cancel()
        state.keys.stop()
        if db is None:
            database.dispose()

    api = routes(all_operations())
    app = Starlette(
        routes=[Mount(GHES_PREFIX, routes=api), *api],
        exception_handlers={HTTPException: not_found},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    state = AppState(
        settings,
        database,
        RateLimiter(),
        runner_catalog(settings),
        KeyPool(settings.runner_key_pool_size),
    )
    app.state.runnerhub = state
    return app
