"""Sending the outbox: which delivery goes next, what it is sent as, and what became of it.

Deliveries of one hook go in id order: the first pending one is sent (and retried) before
the next. Taking one is a lease (storage/hooks.lease): with several instances on one
PostgreSQL each delivery is attempted by one of them at a time, and the lease of an instance
that died runs out. A failed attempt is tried again after a capped exponential backoff until
the retry window has passed since the event (0: never again, as GitHub), then it is failed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson

from runnerhub.domain.scopes import ScopeKind
from runnerhub.storage import hooks as rows
from runnerhub.storage.unit_of_work import UnitOfWork

FIRST_RETRY = timedelta(seconds=1)
BODY_KEPT = 64 * 1024  # of a response body, for the deliveries API


@dataclass(frozen=True, slots=True)
class Taken:
    """A delivery leased for sending, with its hook's configuration as it is now."""

    id: int
    hook_id: int
    guid: str
    event: str
    action: str | None
    subject: dict[str, Any]
    payload: str | None  # its JSON text, once first rendered and sent
    url: str
    content_type: str
    secret: str | None
    verify_tls: bool
    target_type: str  # repository | organization
    target_id: int
    attempts: int  # made before this one (the lease keeps anyone else from adding one)
    created_at: datetime  # of the event: the retry window runs from it


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt sent and got back."""

    request_headers: dict[str, str]
    status_code: int | None  # None: no HTTP answer (refused, timed out)
    response_headers: dict[str, str]
    response_body: str
    duration: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def due_hooks(uow: UnitOfWork, now: datetime, limit: int = 500) -> list[int]:
    """Hooks whose first pending delivery is due and free."""
    return [row.hook_id for row in rows.due(uow.conn, now, limit)]


def take(
    uow: UnitOfWork, hook_id: int, now: datetime, lease: timedelta, limit: int = 1
) -> list[Taken]:
    """Lease the hook's first pending deliveries (up to `limit`, in order) if the first is
    due and free; none if it is not. Sent one after another; the first that fails holds
    back the rest (`release`).

    One statement leases them all. Only an unbroken run from the first pending one is kept:
    a delivery another instance holds, or one not due yet, ends the run and whatever was
    leased past it is freed again, so that no two instances ever send one hook's
    deliveries at once."""
    pending = rows.pending_of(uow.conn, hook_id, limit)
    if not pending or pending[0].next_attempt_at > now:
        return []
    hook = rows.hook_by_id(uow.conn, hook_id)
    scope = rows.scope_by_id(uow.conn, hook.scope_id) if hook is not None else None
    if hook is None or scope is None:
        return []
    due = [row for row in pending if row.next_attempt_at <= now]
    leased = rows.lease_many(uow.conn, [row.id for row in due], now, now + lease)
    run = []
    for row in pending:
        if row.id not in leased:
            break
        run.append(row)
    rows.release_many(uow.conn, sorted(leased - {row.id for row in run}))
    kind = "repository" if scope.kind is ScopeKind.REPOSITORY else "organization"
    return [
        Taken(
            id=row.id, hook_id=hook_id, guid=row.guid, event=row.event, action=row.action,
            subject=json.loads(row.subject),
            payload=row.payload or None, url=hook.url,
            content_type=hook.content_type, secret=hook.secret,
            verify_tls=hook.insecure_ssl != "1", target_type=kind, target_id=scope.subject_id,
            attempts=int(row.attempts), created_at=row.created_at,
        )
        for row in run
    ]  # fmt: skip


def release(uow: UnitOfWork, delivery_ids: list[int]) -> None:
    """Leased but not sent (one before them failed): free for the next attempt."""
    rows.release_many(uow.conn, delivery_ids)


def abandon(uow: UnitOfWork, delivery_id: int, now: datetime) -> None:
    """What the delivery tells of is gone (its run was deleted before it was first sent):
    failed, so that the hook's later deliveries go on."""
    rows.update_delivery(uow.conn, delivery_id, state="failed", lease_until=None,
                         delivered_at=now, status="Payload no longer available")  # fmt: skip


def payload_text(payload: dict[str, Any]) -> str:
    """The payload as JSON text: what is stored (the deliveries API shows it and a
    redelivery resends it) and, for `json` hooks, exactly the bytes sent and signed."""
    return orjson.dumps(payload).decode()


def keep_payloads(uow: UnitOfWork, payloads: Sequence[tuple[int, str]]) -> None:
    """Payloads as first rendered, by delivery id, stored before they are sent."""
    rows.keep_payloads(uow.conn, payloads)


def body_of(text: str, content_type: str) -> tuple[bytes, str]:
    """The exact bytes sent (and signed) for a payload's JSON text, and their media type."""
    if content_type == "form":
        return urlencode({"payload": text}).encode(), "application/x-www-form-urlencoded"
    return text.encode(), "application/json"


def signatures(secret: str | None, body: bytes) -> dict[str, str]:
    if not secret:
        return {}
    key = secret.encode()
    sha1 = hmac.new(key, body, hashlib.sha1).hexdigest()
    sha256 = hmac.new(key, body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature": f"sha1={sha1}", "X-Hub-Signature-256": f"sha256={sha256}"}


@dataclass(frozen=True, slots=True)
class Sent:
    """One attempt to record: the delivery and what came back."""

    taken: Taken
    attempt: Attempt


def record(
    uow: UnitOfWork, sent: Sequence[Sent], now: datetime, *, window: timedelta,
    max_backoff: timedelta,
) -> None:  # fmt: skip
    """What each attempt came to: delivered; pending again after a backoff; or failed once
    the retry window has passed. One statement for all of them, and the hook's last
    response from the last one. A delivery whose hook was deleted meanwhile is gone and
    stays gone."""
    if not sent:
        return
    rows.record_attempts(uow.conn, [_outcome(one, now, window, max_backoff) for one in sent])
    last = sent[-1].attempt
    rows.update_hook(uow.conn, sent[-1].taken.hook_id, last_code=last.status_code,
                     last_status="active" if last.ok else "misconfigured",
                     last_message=_status(last))  # fmt: skip


def _outcome(one: Sent, now: datetime, window: timedelta, max_backoff: timedelta) -> dict[str, Any]:
    taken, attempt = one.taken, one.attempt
    attempts = taken.attempts + 1
    state, next_attempt_at = "pending", None
    if attempt.ok:
        state = "delivered"
    elif window <= timedelta(0) or now - taken.created_at >= window:
        state = "failed"
    else:
        next_attempt_at = now + min(FIRST_RETRY * 2 ** (attempts - 1), max_backoff)
    return {
        "id": taken.id, "attempts": attempts, "state": state,
        "next_attempt_at": next_attempt_at, "delivered_at": now,
        "duration": round(attempt.duration, 3), "status": _status(attempt),
        "status_code": attempt.status_code or 0,
        "request_headers": orjson.dumps(attempt.request_headers).decode(),
        "response_headers": orjson.dumps(attempt.response_headers).decode(),
        "response_body": attempt.response_body[:BODY_KEPT],
    }  # fmt: skip


def _status(attempt: Attempt) -> str:
    """GitHub's wording for a delivery's outcome."""
    if attempt.error is not None:
        return attempt.error
    if attempt.ok:
        return "OK"
    return f"Invalid HTTP Response: {attempt.status_code}"


def prune(uow: UnitOfWork, before: datetime, limit: int) -> int:
    """Delete up to `limit` finished deliveries (delivered or failed) of events before
    `before`, oldest first: how many."""
    return rows.delete_finished(uow.conn, before, limit)


def seconds_to_next(uow: UnitOfWork, now: datetime) -> float | None:
    """How long until the earliest pending delivery is due (None: nothing pending)."""
    due = rows.next_due(uow.conn)
    return None if due is None else max(0.0, (due - now).total_seconds())
