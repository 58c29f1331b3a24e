"""The server's log lines: the request each line belongs to, and the two ways to write them.

A request's context (its `X-GitHub-Request-Id`, and once known its operation and caller)
lives in a context variable for as long as the request is handled, worker threads included
(anyio copies the context into them). `RequestFilter` puts the request id on every record,
so that whatever logs while a request is handled (the gate, the domain's event lines, a
retried transaction, an unhandled error) carries it.

`text` is for people at a terminal; `json` is one JSON object a line, for log shippers.
Extra fields a line was logged with (`extra={"event": ..., "runner_id": ...}`) become keys of
its JSON object; the text line says the same in its message.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

import orjson

LogFormat = Literal["text", "json"]


class RequestContext:
    """What the log knows of the request being handled; the endpoint fills in the rest."""

    __slots__ = ("operation_id", "request_id", "runner_id", "user")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.operation_id: str | None = None
        self.user: str | None = None  # the authenticated user's login
        self.runner_id: int | None = None  # an agent's requests: its runner


CURRENT: ContextVar[RequestContext | None] = ContextVar("runnerhub_request", default=None)


def current() -> RequestContext | None:
    return CURRENT.get()


class RequestFilter(logging.Filter):
    """Stamps each record with the id of the request it was logged for, or None (unless it
    already names one: access lines are written after their request, api/access_log.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "request_id" not in record.__dict__:
            context = CURRENT.get()
            record.request_id = context.request_id if context is not None else None
        return True


# What every LogRecord has: anything else on a record came in through `extra`.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(line, default=str).decode()
        except orjson.JSONEncodeError:  # text orjson refuses (a lone surrogate): escaped
            return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record.created)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC to the millisecond; the part up to the second made once a second."""
    global _second
    whole = int(created)
    second = _second  # one read: another thread may swap it meanwhile
    if second[0] != whole:
        text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        second = _second = (whole, text)
    return f"{second[1]}{int((created - whole) * 1000):03d}Z"


_second: tuple[int, str] = (-1, "")


def configure(log_format: LogFormat, *, access_log: bool = True) -> None:
    """One handler on the root logger, to standard error, in the format asked for; uvicorn's
    own lines go through it too (serving.py gives uvicorn no logging config of its own)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    # Neither format shows threads or processes: records need not look them up.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.getLogger("runnerhub").setLevel(logging.INFO)
    access = logging.getLogger(ACCESS_LOGGER)
    access.setLevel(logging.INFO if access_log else logging.WARNING)


ACCESS_LOGGER = "runnerhub.access"
