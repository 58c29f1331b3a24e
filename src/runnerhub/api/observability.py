"""What operators and their monitoring ask of the server itself, outside GitHub's API:
`/healthz` (the process answers), `/readyz` (the database answers and its schema is this
code's), `/metrics` (Prometheus text: api/metrics.py)."""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runnerhub.api.operations import AppState, Call, Operation, Reply
from runnerhub.auth.permissions import PUBLIC
from runnerhub.domain import fleet
from runnerhub.errors import Unauthorized

log = logging.getLogger(__name__)

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
DOCS = "https://prometheus.io/docs/instrumenting/exposition_formats/"


async def healthz(request: Request) -> Response:
    """Up: touches nothing, so a slow or unreachable database does not restart the process."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state: AppState = request.app.state.runnerhub
    try:
        schema = await state.db.run(fleet.schema, write=False)
    except Exception as error:  # unreachable, refusing, or no schema at all: not ready
        log.warning("not ready: %s", error)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    body = {"status": "ok", "database": "ok", "schema": schema.revision, "head": schema.head}
    if not schema.current:
        body |= {"status": "unavailable", "database": "migrations pending"}
        return JSONResponse(body, 503)
    return JSONResponse(body)


def get_metrics(call: Call) -> Reply:
    if call.state.settings.metrics_require_token and call.principal is None:
        raise Unauthorized("Requires authentication", failed_login=False)
    snapshot = fleet.snapshot(call.uow, call.clock.now, call.clock.offline_after)
    keys = call.state.keys
    text = call.state.metrics.exposition(snapshot, len(call.state.mailboxes), len(keys), keys.size)
    # A Fragment is written out byte for byte; the Content-Type wins over the JSON one.
    return Reply(orjson.Fragment(text), 200, {"Content-Type": PROMETHEUS_TEXT})


# Not GitHub's REST API: served at these paths only, never under /api/v3.
OPERATIONS = (
    Operation(
        "GET", "/metrics", get_metrics, PUBLIC, "runnerhub/metrics", docs_url=DOCS,
        rate_limited=False, rest=False,
    ),
)  # fmt: skip

ROUTES = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
