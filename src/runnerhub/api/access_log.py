"""One access-log line per request, and the request's context for every line logged while it
is handled (runnerhub/log_format.py).

The middleware makes the request id that the response's `X-GitHub-Request-Id` carries
(api/responses.py reads it back; a response without one gets it here), and logs, once the
request is answered (in batches, below): method, path (never the query), status, duration,
operation id, the caller's login or runner, and the client's address (the proxy's client
when the proxy is trusted). Headers, bodies and tokens are never logged.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import time
import weakref

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runnerhub.api.responses import request_id
from runnerhub.log_format import ACCESS_LOGGER, CURRENT, RequestContext

log = logging.getLogger(ACCESS_LOGGER)
REQUEST_ID_HEADER = b"x-github-request-id"
# A path with %0A in it must not start a line of its own in the text log.
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


# Lines are written in batches, a few milliseconds late: one line written inline costs about
# 4x one written among others (measured, bench/abtest.py access-log-json: 60-90 µs against
# ~15), the logging code being cold between two requests. A batch goes out when it holds
# FLUSH_LINES lines or FLUSH_SECONDS after its first, and at exit.
FLUSH_LINES = 64
FLUSH_SECONDS = 0.05

Entry = tuple[float, RequestContext, str, str, int, float, str | None]


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pending: list[Entry] = []
        self.timer: asyncio.TimerHandle | None = None
        _LOGS.add(self)

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
            CURRENT.reset(token)
            if log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                seconds = time.perf_counter() - started
                self._add((time.time(), context, scope["method"], scope["path"], status,
                           seconds, client[0] if client else None))  # fmt: skip

    def _add(self, entry: Entry) -> None:
        self.pending.append(entry)
        if len(self.pending) >= FLUSH_LINES:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        pending, self.pending = self.pending, []
        for entry in pending:
            _log(*entry)


_LOGS: weakref.WeakSet[AccessLog] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for access_log in list(_LOGS):
        access_log.flush()


def _log(
    when: float, context: RequestContext, method: str, path: str, status: int, seconds: float,
    address: str | None,
) -> None:  # fmt: skip
    caller = context.user or (f"runner:{context.runner_id}" if context.runner_id else "-")
    duration_ms = round(seconds * 1000, 2)
    operation = context.operation_id
    # The record made here rather than by log.info(): no walk up the stack for a caller
    # nobody reads. Its time is the answer's, not the batch's.
    record = logging.LogRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 0, "%s %s %d %.1fms %s %s %s",
        (method, path.translate(_CONTROL), status, duration_ms, operation or "-", caller,
         address or "-"),
        None,
    )  # fmt: skip
    record.created, record.msecs = when, (when % 1) * 1000
    record.__dict__.update(
        request_id=context.request_id, event="request", method=method, path=path,
        status=status, duration_ms=duration_ms, operation_id=operation, user=context.user,
        runner_id=context.runner_id, client=address,
    )  # fmt: skip
    log.handle(record)
