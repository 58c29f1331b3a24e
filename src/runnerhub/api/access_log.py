"""One access-log line per request, and the request's context for every line logged while it
is handled (runnerhub/log_format.py).

The middleware makes the request id that the response's `X-GitHub-Request-Id` carries
(api/responses.py reads it back; a response without one gets it here), and logs once it
is answered: method, path (never the query), status, duration, operation id, the
caller's login or runner, and the client's address (the proxy's client when the proxy is
trusted). Headers, bodies and tokens are never logged.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runnerhub.api.responses import request_id
from runnerhub.log_format import ACCESS_LOGGER, CURRENT, RequestContext

log = logging.getLogger(ACCESS_LOGGER)
REQUEST_ID_HEADER = b"x-github-request-id"
# A path with %0A in it must not start a line of its own in the text log.
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        context = RequestContext(request_id())
        token = CURRENT.set(context)
        status = 500  # unless a response starts: an error no handler answered

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.setdefault("headers", [])
                if not any(name == REQUEST_ID_HEADER for name, _ in headers):
                    # The server's own routes (/healthz, pages) name their request too.
                    headers.append((REQUEST_ID_HEADER, context.request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if log.isEnabledFor(logging.INFO):
                _log(scope, context, status, time.perf_counter() - started)
            CURRENT.reset(token)


def _log(scope: Scope, context: RequestContext, status: int, seconds: float) -> None:
    client = scope.get("client")
    address = client[0] if client else None
    caller = context.user or (f"runner:{context.runner_id}" if context.runner_id else "-")
    duration_ms = round(seconds * 1000, 2)
    operation, method, path = context.operation_id, scope["method"], scope["path"]
    # The record made here rather than by log.info(): no walk up the stack for a caller
    # nobody reads, a third of the line's cost (bench/abtest.py access-log-json).
    record = logging.LogRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 0, "%s %s %d %.1fms %s %s %s",
        (method, path.translate(_CONTROL), status, duration_ms, operation or "-", caller,
         address or "-"),
        None,
    )  # fmt: skip
    record.__dict__.update(
        event="request", method=method, path=path, status=status, duration_ms=duration_ms,
        operation_id=operation, user=context.user, runner_id=context.runner_id, client=address,
    )  # fmt: skip
    log.handle(record)
