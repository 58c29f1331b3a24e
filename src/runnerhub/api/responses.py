"""Turning replies and errors into GitHub-shaped HTTP responses: bodies, headers, ETags."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from runnerhub import log_format
from runnerhub.errors import Forbidden, RateLimited, RunnerhubError

if TYPE_CHECKING:
    from runnerhub.api.incoming import Incoming
    from runnerhub.api.operations import AppState, Operation

DEFAULT_API_VERSION = "2022-11-28"
# The runner endpoints are identical in both versions; 2026-03-10 only drops fields that
# runnerhub's runner bodies never had (rate_limit's top-level `rate` aside).
API_VERSIONS = ("2022-11-28", "2026-03-10")
GENERAL_DOCS = "https://docs.github.com/rest"
RUNNER_DOCS = "https://docs.github.com/rest/actions/self-hosted-runners"


@dataclass(slots=True)
class Reply:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Work to await after the transaction commits (a long poll), giving the final reply.
    then: Callable[[], Awaitable[Reply]] | None = None


def conditional(
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
    reply.body = Encoded(encoded)
    return reply


def _refunded(headers: dict[str, str]) -> dict[str, str]:
    used = int(headers.get("x-ratelimit-used", "1")) - 1
    limit = int(headers.get("x-ratelimit-limit", "0"))
    return {"x-ratelimit-used": str(used), "x-ratelimit-remaining": str(max(limit - used, 0))}


@dataclass(frozen=True, slots=True)
class Encoded:
    data: bytes


def error_reply(error: RunnerhubError, docs_url: str) -> Reply:
    # REST points at the endpoint's docs for what the endpoint decides (404, 409, 422) and
    # at the REST docs for the rest; GraphQL's errors all point at GraphQL's docs.
    specific = error.status in (404, 409, 422) or not docs_url.startswith(GENERAL_DOCS)
    body: dict[str, Any] = {
        "message": error.message,
        "documentation_url": docs_url if specific else GENERAL_DOCS,
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
    context = log_format.current()  # set by api/access_log.py: its id is in the request's logs
    return {
        "X-GitHub-Api-Version-Selected": selected,
        "X-GitHub-Media-Type": "github.v3; format=json",
        "X-GitHub-Request-Id": context.request_id if context is not None else request_id(),
    }


def request_id() -> str:
    raw = secrets.token_hex(14).upper()
    return f"{raw[:4]}:{raw[4:8]}:{raw[8:14]}:{raw[14:20]}:{raw[20:28]}"


def render(reply: Reply, headers: dict[str, str]) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=headers)
    data = reply.body.data if isinstance(reply.body, Encoded) else orjson.dumps(reply.body)
    return Response(data, reply.status, headers, media_type="application/json; charset=utf-8")
