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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

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
    payload: dict[str, Any] | None  # None until first rendered
    url: str
    content_type: str
    secret: str | None
    verify_tls: bool
    target_type: str  # repository | organization
    target_id: int


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
    back the rest (`release`)."""
    pending = rows.pending_of(uow.conn, hook_id, limit)
    if not pending or pending[0].next_attempt_at > now:
        return []
    hook = rows.hook_by_id(uow.conn, hook_id)
    scope = rows.scope_by_id(uow.conn, hook.scope_id) if hook is not None else None
    if hook is None or scope is None:
        return []
    kind = "repository" if scope.kind is ScopeKind.REPOSITORY else "organization"
    taken = []
    for row in pending:
        if row.next_attempt_at > now or not rows.lease(uow.conn, row.id, now, now + lease):
            break
        taken.append(Taken(
            id=row.id, hook_id=hook_id, guid=row.guid, event=row.event, action=row.action,
            subject=json.loads(row.subject),
            payload=json.loads(row.payload) if row.payload else None, url=hook.url,
            content_type=hook.content_type, secret=hook.secret,
            verify_tls=hook.insecure_ssl != "1", target_type=kind, target_id=scope.subject_id,
        ))  # fmt: skip
    return taken


def release(uow: UnitOfWork, delivery_ids: list[int]) -> None:
    """Leased but not sent (one before them failed): free for the next attempt."""
    for delivery_id in delivery_ids:
        rows.update_delivery(uow.conn, delivery_id, lease_until=None)


def abandon(uow: UnitOfWork, delivery_id: int, now: datetime) -> None:
    """What the delivery tells of is gone (its run was deleted before it was first sent):
    failed, so that the hook's later deliveries go on."""
    rows.update_delivery(uow.conn, delivery_id, state="failed", lease_until=None,
                         delivered_at=now, status="Payload no longer available")  # fmt: skip


def keep_payload(uow: UnitOfWork, delivery_id: int, payload: dict[str, Any]) -> None:
    """The payload as first sent: what the deliveries API shows and a redelivery resends."""
    rows.update_delivery(uow.conn, delivery_id, payload=json.dumps(payload))


def body_of(payload: dict[str, Any], content_type: str) -> tuple[bytes, str]:
    """The exact bytes sent (and signed), and their media type."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
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


def record(
    uow: UnitOfWork, taken: Taken, attempt: Attempt, now: datetime, *, window: timedelta,
    max_backoff: timedelta,
) -> None:  # fmt: skip
    """What the attempt came to: delivered; pending again after a backoff; or failed once
    the retry window has passed."""
    row = rows.delivery_by_id(uow.conn, taken.id)
    if row is None:
        return  # the hook was deleted meanwhile
    attempts = int(row.attempts) + 1
    values: dict[str, Any] = {
        "attempts": attempts, "lease_until": None, "delivered_at": now,
        "duration": round(attempt.duration, 3), "status": _status(attempt),
        "status_code": attempt.status_code or 0,
        "request_headers": json.dumps(attempt.request_headers),
        "response_headers": json.dumps(attempt.response_headers),
        "response_body": attempt.response_body[:BODY_KEPT],
    }  # fmt: skip
    if attempt.ok:
        values["state"] = "delivered"
    elif window <= timedelta(0) or now - row.created_at >= window:
        values["state"] = "failed"
    else:
        backoff = min(FIRST_RETRY * 2 ** (attempts - 1), max_backoff)
        values["next_attempt_at"] = now + backoff
    rows.update_delivery(uow.conn, taken.id, **values)
    rows.update_hook(uow.conn, taken.hook_id, last_code=attempt.status_code,
                     last_status="active" if attempt.ok else "misconfigured",
                     last_message=_status(attempt))  # fmt: skip


def _status(attempt: Attempt) -> str:
    """GitHub's wording for a delivery's outcome."""
    if attempt.error is not None:
        return attempt.error
    if attempt.ok:
        return "OK"
    return f"Invalid HTTP Response: {attempt.status_code}"


def seconds_to_next(uow: UnitOfWork, now: datetime) -> float | None:
    """How long until the earliest pending delivery is due (None: nothing pending)."""
    due = rows.next_due(uow.conn)
    return None if due is None else max(0.0, (due - now).total_seconds())
