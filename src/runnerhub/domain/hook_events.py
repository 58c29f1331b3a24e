"""`workflow_job` and `workflow_run` events, written to the outbox in the transaction of the
change they tell of (a job queued, started or completed; a run requested, started or ended).

Each active hook of the repository, and of its owner organization, subscribed to the event
(or to `*`) gets a delivery row holding a snapshot of the job or run as it is now; the
deliverer renders GitHub's payload from it. With no such hook, a change costs one read of
the scopes' hooks per transaction (memoized on the unit of work).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from runnerhub.domain import webhooks
from runnerhub.domain.events import HookDeliveryQueued
from runnerhub.domain.models import Job, JobStep
from runnerhub.storage import hooks, jobs, runs
from runnerhub.storage.unit_of_work import UnitOfWork

JOB_ACTIONS = frozenset({"queued", "waiting", "in_progress", "completed"})
RUN_ACTIONS = frozenset({"requested", "in_progress", "completed"})


def job_changed(uow: UnitOfWork, job_id: int, action: str, now: datetime) -> None:
    jobs_changed(uow, [job_id], action, now)


def jobs_changed(uow: UnitOfWork, job_ids: Sequence[int], action: str, now: datetime) -> None:
    """The jobs (of one run or several) moved to `action`: one delivery per job per hook."""
    assert action in JOB_ACTIONS
    from runnerhub.domain.jobs import to_job  # jobs raise these events

    if not _any_hooks(uow):
        return
    for job_id in job_ids:
        row = jobs.job(uow.conn, job_id)
        if row is None or row.run_id is None:
            continue
        targets = _subscribed(uow, (row.scope_id, row.org_scope_id), "workflow_job")
        if not targets:
            continue
        facts = hooks.run_facts(uow.conn, row.run_id)
        run = runs.run(uow.conn, facts.repo_id, row.run_id) if facts else None
        if facts is None or run is None:
            continue
        subject = {"job": _plain(to_job(row, run)), "sender_id": facts.sender_id,
                   "repo_id": facts.repo_id}  # fmt: skip
        _write(uow, targets, "workflow_job", action, subject, facts.repo_id, now)


def run_changed(uow: UnitOfWork, run_id: int, action: str, now: datetime) -> None:
    assert action in RUN_ACTIONS
    if not _any_hooks(uow):
        return
    facts = hooks.run_facts(uow.conn, run_id)
    if facts is None:
        return
    targets = _subscribed(uow, (facts.repo_scope_id, facts.org_scope_id), "workflow_run")
    if not targets:
        return
    subject = {
        "run_id": run_id, "repo_id": facts.repo_id, "sender_id": facts.sender_id,
        "status": facts.status, "conclusion": facts.conclusion,
        "run_attempt": facts.run_attempt, "updated_at": facts.updated_at.isoformat(),
        "run_started_at": facts.run_started_at.isoformat() if facts.run_started_at else None,
    }  # fmt: skip
    _write(uow, targets, "workflow_run", action, subject, facts.repo_id, now)


def _any_hooks(uow: UnitOfWork) -> bool:
    """Whether any hook is active at all: the usual answer, none, costs one read."""
    found = uow.memo.get("any hooks")
    if found is None:
        found = uow.memo["any hooks"] = hooks.any_active(uow.conn)
    return bool(found)


def _subscribed(uow: UnitOfWork, scope_ids: Sequence[int | None], event: str) -> list[int]:
    key = ("hooks", tuple(scope_ids))
    found = uow.memo.get(key)
    if found is None:
        found = hooks.active_hooks(uow.conn, [s for s in scope_ids if s is not None])
        uow.memo[key] = found
    assert isinstance(found, list)
    return [hook_id for hook_id, events in found if _wants(json.loads(events), event)]


def _wants(events: list[str], event: str) -> bool:
    return event in events or "*" in events


def _write(
    uow: UnitOfWork, targets: list[int], event: str, action: str, subject: dict[str, Any],
    repository_id: int, now: datetime,
) -> None:  # fmt: skip
    # One event, one guid, shared by every hook it goes to (as GitHub's `guid`).
    first = webhooks.delivery_row(targets[0], event, action, subject, now,
                                  repository_id=repository_id)  # fmt: skip
    rows = [{**first, "hook_id": hook_id} for hook_id in targets]
    hooks.insert_deliveries(uow.conn, rows)
    for hook_id in targets:
        uow.emit(HookDeliveryQueued(hook_id))


def _plain(job: Job) -> dict[str, Any]:
    def encode(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, list):
            return [encode(v) for v in value]
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        return value

    return {k: encode(v) for k, v in dataclasses.asdict(job).items()}


def job_from(subject: dict[str, Any]) -> Job:
    """The job as the snapshot kept it (for rendering the payload)."""
    data = dict(subject)
    for name in ("created_at", "started_at", "completed_at"):
        data[name] = moment(data.get(name))
    data["steps"] = [_step(s) for s in data["steps"]]
    return Job(**data)


def _step(step: dict[str, Any]) -> JobStep:
    started, completed = moment(step.get("started_at")), moment(step.get("completed_at"))
    return JobStep(**{**step, "started_at": started, "completed_at": completed})


def moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
