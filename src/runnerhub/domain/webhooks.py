"""Repository and organization webhooks: the hooks themselves and their deliveries.

A hook's secret is write-only (the API shows `********`); events and the URL are checked as
GitHub checks them (422). Creating a hook queues a `ping`; a redelivery is a new delivery of
the same event (same guid, same payload) marked `redelivery`. What is sent, and when, is the
deliverer's business (services/hook_deliverer.py): here rows are only written.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from runnerhub.domain import profiles, run_history, scopes, workflows
from runnerhub.domain.events import HookDeliveryQueued
from runnerhub.domain.models import Workflow, WorkflowRun
from runnerhub.domain.profiles import Account, Repository
from runnerhub.domain.scopes import Scope, ScopeKind
from runnerhub.errors import NotFound, ValidationFailed
from runnerhub.storage import accounts, limits
from runnerhub.storage import hooks as rows
from runnerhub.storage.unit_of_work import UnitOfWork

# The events runnerhub raises; GitHub's other event names are accepted and never sent.
RAISED = frozenset({"ping", "workflow_job", "workflow_run"})
MAX_EVENTS = 250
UNSET: Any = object()  # a field the request leaves as it is


@dataclass(frozen=True, slots=True)
class Hook:
    id: int
    kind: ScopeKind
    active: bool
    events: list[str]
    url: str
    content_type: str
    has_secret: bool
    insecure_ssl: str
    created_at: datetime
    updated_at: datetime
    last_code: int | None
    last_status: str
    last_message: str | None


@dataclass(slots=True)
class HookChange:
    """What a create or update asks for; UNSET fields stay as they are (or their default)."""

    url: Any = UNSET
    content_type: Any = UNSET
    secret: Any = UNSET
    insecure_ssl: Any = UNSET
    events: Any = UNSET
    add_events: list[str] = field(default_factory=list)
    remove_events: list[str] = field(default_factory=list)
    active: Any = UNSET


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    guid: str
    delivered_at: datetime
    redelivery: bool
    duration: float
    status: str
    status_code: int
    event: str
    action: str | None
    repository_id: int | None
    request_headers: dict[str, str] | None
    payload: dict[str, Any] | None
    response_headers: dict[str, str] | None
    response_body: str | None


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: list[Delivery]
    next_cursor: int | None


# -- hooks


def create_hook(
    uow: UnitOfWork, scope: Scope, change: HookChange, now: datetime, sender_id: int | None
) -> Hook:
    if change.url is UNSET or not change.url:
        raise _failed("custom", "url", "Config must include 'url'")
    values = _settings(change, {"events": ["push"], "content_type": "form", "insecure_ssl": "0",
                                "active": True, "secret": None})  # fmt: skip
    values["events"] = json.dumps(values["events"])
    hook_id = rows.insert_hook(uow.conn, scope_id=scope.id, created_at=now, updated_at=now,
                               **values)  # fmt: skip
    hook = get_hook(uow, scope, hook_id)
    enqueue(uow, hook_id, "ping", None, _ping_subject(scope, hook_id, sender_id), now,
            repository_id=_repository_id(scope))  # fmt: skip
    return hook


def get_hook(uow: UnitOfWork, scope: Scope, hook_id: int) -> Hook:
    return _hook(scope, _row(uow, scope, hook_id))


def list_hooks(uow: UnitOfWork, scope: Scope, per_page: int, page: int) -> tuple[list[Hook], int]:
    total = rows.count_hooks(uow.conn, scope.id)
    found = rows.hooks_of(uow.conn, scope.id, per_page, (page - 1) * per_page)
    return [_hook(scope, row) for row in found], total


def update_hook(
    uow: UnitOfWork, scope: Scope, hook_id: int, change: HookChange, now: datetime
) -> Hook:
    row = _row(uow, scope, hook_id)
    current = {"url": row.url, "content_type": row.content_type, "secret": row.secret,
               "insecure_ssl": row.insecure_ssl, "active": bool(row.active),
               "events": json.loads(row.events)}  # fmt: skip
    values = _settings(change, current)
    events = [e for e in values["events"] if e not in change.remove_events]
    events += [e for e in change.add_events if e not in events]
    values["events"] = json.dumps(_events(events))
    rows.update_hook(uow.conn, hook_id, updated_at=now, **values)
    return get_hook(uow, scope, hook_id)


def delete_hook(uow: UnitOfWork, scope: Scope, hook_id: int) -> None:
    if not limits.is_id(hook_id) or not rows.delete_hook(uow.conn, scope.id, hook_id):
        raise NotFound()


def ping(
    uow: UnitOfWork, scope: Scope, hook_id: int, now: datetime, sender_id: int | None
) -> None:
    _row(uow, scope, hook_id)
    enqueue(uow, hook_id, "ping", None, _ping_subject(scope, hook_id, sender_id), now,
            repository_id=_repository_id(scope))  # fmt: skip


def test_push(uow: UnitOfWork, scope: Scope, hook_id: int) -> None:
    """GitHub sends the latest push to a hook subscribed to `push`, and nothing (204) to
    others. runnerhub raises no push events, so it sends nothing either way."""
    _row(uow, scope, hook_id)


def _row(uow: UnitOfWork, scope: Scope, hook_id: int) -> Any:
    row = rows.hook(uow.conn, scope.id, hook_id) if limits.is_id(hook_id) else None
    if row is None:
        raise NotFound()
    return row


def _hook(scope: Scope, row: Any) -> Hook:
    return Hook(
        id=row.id, kind=scope.kind, active=bool(row.active), events=json.loads(row.events),
        url=row.url, content_type=row.content_type, has_secret=bool(row.secret),
        insecure_ssl=row.insecure_ssl, created_at=row.created_at, updated_at=row.updated_at,
        last_code=row.last_code, last_status=row.last_status, last_message=row.last_message,
    )  # fmt: skip


def _settings(change: HookChange, current: dict[str, Any]) -> dict[str, Any]:
    values = dict(current)
    if change.url is not UNSET:
        values["url"] = _url(change.url)
    if change.content_type is not UNSET:
        values["content_type"] = change.content_type
    if change.secret is not UNSET:
        values["secret"] = change.secret or None
    if change.insecure_ssl is not UNSET:
        values["insecure_ssl"] = change.insecure_ssl
    if change.events is not UNSET:
        values["events"] = change.events
    if change.active is not UNSET:
        values["active"] = change.active
    values["events"] = _events(values["events"])
    return values


def _url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _failed("custom", "url", "Config url must be an http or https URL")  # unverified
    return url


def _events(events: list[str]) -> list[str]:
    unique = list(dict.fromkeys(events))
    if not unique or len(unique) > MAX_EVENTS or any(not e or len(e) > 64 for e in unique):
        raise _failed("invalid", "events", "Hook events are invalid")
    return unique


def _failed(code: str, name: str, message: str) -> ValidationFailed:
    error = {"resource": "Hook", "code": code, "field": name, "message": message}
    return ValidationFailed("Validation Failed", errors=[error])


# -- deliveries


def enqueue(
    uow: UnitOfWork, hook_id: int, event: str, action: str | None, subject: dict[str, Any],
    now: datetime, *, guid: str | None = None, repository_id: int | None = None,
) -> None:  # fmt: skip
    values = delivery_row(hook_id, event, action, subject, now, guid=guid,
                          repository_id=repository_id)  # fmt: skip
    rows.insert_delivery(uow.conn, **values)
    uow.emit(HookDeliveryQueued(hook_id))


def delivery_row(
    hook_id: int, event: str, action: str | None, subject: dict[str, Any], now: datetime, *,
    guid: str | None = None, repository_id: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "hook_id": hook_id, "guid": guid or str(uuid.uuid4()), "event": event,
        "action": action, "repository_id": repository_id, "subject": json.dumps(subject),
        "state": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
    }  # fmt: skip


def list_deliveries(
    uow: UnitOfWork, scope: Scope, hook_id: int, cursor: int | None, per_page: int,
    ok: bool | None = None,
) -> DeliveryPage:  # fmt: skip
    """`ok`: GitHub's `status` filter (`success`: delivered; `failure`: not yet or never)."""
    _row(uow, scope, hook_id)
    found = rows.deliveries(uow.conn, hook_id, cursor, per_page + 1, ok)
    more = len(found) > per_page
    shown = [_delivery(row) for row in found[:per_page]]
    return DeliveryPage(shown, shown[-1].id if more and shown else None)


def get_delivery(uow: UnitOfWork, scope: Scope, hook_id: int, delivery_id: int) -> Delivery:
    return _delivery(_delivery_row(uow, scope, hook_id, delivery_id))


def redeliver(
    uow: UnitOfWork, scope: Scope, hook_id: int, delivery_id: int, now: datetime
) -> None:
    row = _delivery_row(uow, scope, hook_id, delivery_id)
    values = delivery_row(hook_id, row.event, row.action, json.loads(row.subject), now,
                          guid=row.guid, repository_id=row.repository_id)  # fmt: skip
    rows.insert_delivery(uow.conn, **values, payload=row.payload, redelivery=True)
    uow.emit(HookDeliveryQueued(hook_id))


def _delivery_row(uow: UnitOfWork, scope: Scope, hook_id: int, delivery_id: int) -> Any:
    _row(uow, scope, hook_id)
    found = rows.delivery(uow.conn, hook_id, delivery_id) if limits.is_id(delivery_id) else None
    if found is None:
        raise NotFound()
    return found


def _delivery(row: Any) -> Delivery:
    def loaded(text: str | None) -> Any:
        return json.loads(text) if text else None

    return Delivery(
        id=row.id, guid=row.guid, delivered_at=row.delivered_at or row.created_at,
        redelivery=bool(row.redelivery), duration=float(row.duration or 0.0),
        status=row.status or ("pending" if row.state == "pending" else row.state),
        status_code=int(row.status_code or 0), event=row.event, action=row.action,
        repository_id=row.repository_id, request_headers=loaded(row.request_headers),
        payload=loaded(row.payload), response_headers=loaded(row.response_headers),
        response_body=row.response_body,
    )  # fmt: skip


def _repository_id(scope: Scope) -> int | None:
    return scope.subject_id if scope.kind is ScopeKind.REPOSITORY else None


def _ping_subject(scope: Scope, hook_id: int, sender_id: int | None) -> dict[str, Any]:
    return {"hook_id": hook_id, "sender_id": sender_id}


# -- what a payload is rendered from


@dataclass(frozen=True, slots=True)
class PayloadContext:
    """The accounts and records a delivery's payload names, read when it is first sent."""

    hook: Hook
    hook_path: str  # "/repos/o/r/hooks/1" or "/orgs/o/hooks/1"
    repository: Repository | None
    organization: Account | None
    sender: Account | None
    run: WorkflowRun | None = None
    workflow: Workflow | None = None
    enterprise: Enterprise | None = None  # the organization's, where it has one


@dataclass(frozen=True, slots=True)
class Enterprise:
    id: int
    slug: str
    name: str
    created_at: datetime


def payload_context(uow: UnitOfWork, hook_id: int, subject: dict[str, Any]) -> PayloadContext:
    """What the payload names; read once per transaction (the deliverer renders a batch of
    a hook's deliveries in one), so a batch of one run's events reads its accounts once."""
    key = ("payload", hook_id, subject.get("repo_id"), subject.get("sender_id"),
           subject.get("run_id"))  # fmt: skip
    found = uow.memo.get(key)
    if not isinstance(found, PayloadContext):
        found = uow.memo[key] = _payload_context(uow, hook_id, subject)
    return found


def _payload_context(uow: UnitOfWork, hook_id: int, subject: dict[str, Any]) -> PayloadContext:
    hook_row = rows.hook_by_id(uow.conn, hook_id)
    if hook_row is None:
        raise NotFound()
    scope = _scope_of(uow, hook_row.scope_id)
    repository = organization = None
    repo_id = subject.get("repo_id")
    if scope.kind is ScopeKind.REPOSITORY:
        repo_id = scope.subject_id
    if repo_id is not None:
        repository = _repository(uow, int(repo_id))
        if repository.owner.type == "Organization":
            organization = repository.owner
    elif scope.kind is ScopeKind.ORGANIZATION:
        organization = profiles.user_by_id(uow, scope.subject_id)
    sender_id = subject.get("sender_id")
    sender = profiles.user_by_id(uow, int(sender_id)) if sender_id else None
    context = PayloadContext(
        _hook(scope, hook_row), _hook_path(scope, hook_id), repository, organization, sender,
        enterprise=_enterprise(uow, organization),
    )  # fmt: skip
    if "run_id" in subject and repository is not None:
        repo_scope = scopes.repository(uow, repository.owner.login, repository.name)
        assert repo_scope is not None
        run = run_history.get_run(uow, repo_scope, int(subject["run_id"]))
        workflow = workflows.get_workflow(uow, repo_scope, run.workflow_id)
        context = dataclasses.replace(context, run=run, workflow=workflow)
    return context


def _enterprise(uow: UnitOfWork, organization: Account | None) -> Enterprise | None:
    if organization is None:
        return None
    enterprise_id = accounts.enterprise_of_org(uow.conn, organization.id)
    row = accounts.enterprise_by_id(uow.conn, enterprise_id) if enterprise_id else None
    if row is None:
        return None
    return Enterprise(row.id, row.slug, row.name, row.created_at)


def _hook_path(scope: Scope, hook_id: int) -> str:
    where = "repos" if scope.kind is ScopeKind.REPOSITORY else "orgs"
    return f"/{where}/{scope.name}/hooks/{hook_id}"


def _scope_of(uow: UnitOfWork, scope_id: int) -> Scope:
    found = rows.scope_by_id(uow.conn, scope_id)
    if found is None:
        raise NotFound()
    return found


def _repository(uow: UnitOfWork, repo_id: int) -> Repository:
    names = rows.repository_names(uow.conn, repo_id)
    row = accounts.repository(uow.conn, *names) if names else None
    if row is None:
        raise NotFound()
    return Repository(id=row.id, name=row.name, private=bool(row.private),
                      created_at=row.created_at, owner=profiles.user_by_id(uow, row.owner_id),
                      permissions=None)  # fmt: skip
