"""Acting on runs: cancel (politely or by force), re-run (all jobs, or the failed ones and
what depends on them), delete."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from runnerhub.domain import hook_events, run_progress, runs
from runnerhub.domain import jobs as job_rules
from runnerhub.domain.run_history import run_row
from runnerhub.domain.scopes import Scope
from runnerhub.errors import Conflict
from runnerhub.storage import jobs
from runnerhub.storage import runs as run_rows
from runnerhub.storage.unit_of_work import UnitOfWork


def cancel(uow: UnitOfWork, repo: Scope, run_id: int, now: datetime) -> None:
    """Jobs not started, and those waiting on others, are cancelled at once; running ones
    are told to stop (their agents end them `cancelled`)."""
    row = run_row(uow, repo, run_id, lock=True)
    if row.status == "completed":
        raise Conflict("Cannot cancel a workflow run that is completed.")
    _cancel_waiting(uow, run_id, row.run_attempt, now)
    for job in jobs.jobs_of_run(uow.conn, run_id, row.run_attempt):
        if job.status == "in_progress":
            job_rules.request_cancel(uow, job, now)
    run_progress.advance(uow, run_id, row.run_attempt, now)


def force_cancel(uow: UnitOfWork, repo: Scope, run_id: int, now: datetime) -> None:
    """As cancel, without waiting for the runners: their jobs end now."""
    row = run_row(uow, repo, run_id, lock=True)
    if row.status == "completed":
        raise Conflict("Cannot cancel a workflow run that is completed.")
    _cancel_waiting(uow, run_id, row.run_attempt, now)
    for job in jobs.jobs_of_run(uow.conn, run_id, row.run_attempt):
        if job.status == "in_progress":
            job_rules.request_cancel(uow, job, now)  # tells its agent to stop
            current = jobs.job(uow.conn, job.id)
            if current is not None and current.status != "completed":
                job_rules.finish(uow, current, "cancelled", now)
    run_progress.advance(uow, run_id, row.run_attempt, now)


def _cancel_waiting(uow: UnitOfWork, run_id: int, attempt: int, now: datetime) -> None:
    """Jobs no runner holds end `cancelled` together, before anything moves the run on
    (which would otherwise skip the dependants of the first one cancelled)."""
    for job in jobs.jobs_of_run(uow.conn, run_id, attempt):
        if job.status in ("pending", "waiting", "queued"):
            jobs.update_job(uow.conn, job.id, status="completed", conclusion="cancelled",
                            completed_at=now, steps="[]")  # fmt: skip
            hook_events.job_changed(uow, job.id, "completed", now)


def rerun(uow: UnitOfWork, repo: Scope, run_id: int, origin: runs.Origin, now: datetime, *,
          failed_only: bool = False) -> None:  # fmt: skip
    """A new attempt of the run, from the workflow file as it was run. With `failed_only`,
    jobs that succeeded keep their results and only the others (and their dependants) run."""
    row = run_row(uow, repo, run_id, lock=True)
    if row.status != "completed":
        raise Conflict("This workflow is already running")
    parsed, error = runs.parse(bytes(row.content), row.workflow_path)
    if parsed is None:
        raise Conflict(f"This workflow run cannot be re-run: {error}")
    attempt = row.run_attempt + 1
    keep = _succeeded(uow, row, parsed) if failed_only else {}
    run_rows.update_run(
        uow.conn, run_id, run_attempt=attempt, status="queued", conclusion=None,
        updated_at=now, run_started_at=now, triggering_actor_id=origin.actor_id,
    )  # fmt: skip
    trigger = runs.Trigger(origin, row.event, row.head_sha, row.head_branch,
                           json.loads(row.inputs))  # fmt: skip
    hook_events.run_changed(uow, run_id, "requested", now)
    runs.plan(uow, repo, run_id, row.run_number, attempt, parsed, trigger, now, frozenset(keep))
    for previous in keep.values():
        _copy(uow, previous, attempt)
    run_progress.advance(uow, run_id, attempt, now, window=origin.window)


def _succeeded(uow: UnitOfWork, row: Any, parsed: Any) -> dict[str, list[Any]]:
    """Jobs of the last attempt that succeeded and need nothing that is run again."""
    previous: dict[str, list[Any]] = {}
    for job in jobs.jobs_of_run(uow.conn, row.id, row.run_attempt):
        previous.setdefault(job.job_key, []).append(job)
    again = {key for key, rows in previous.items() if any(r.conclusion != "success" for r in rows)}
    changed = True
    while changed:  # dependants of what runs again run again too
        changed = False
        for key, spec_job in parsed.jobs.items():
            if key not in again and any(need in again for need in spec_job.needs):
                again.add(key)
                changed = True
    return {key: rows for key, rows in previous.items() if key not in again}


def _copy(uow: UnitOfWork, previous: list[Any], attempt: int) -> None:
    for job in previous:
        values = {column: getattr(job, column) for column in job._fields if column != "id"}
        values.update(run_attempt=attempt, runner_id=None)
        jobs.insert_job(uow.conn, **values)


def delete(uow: UnitOfWork, repo: Scope, run_id: int) -> None:
    row = run_row(uow, repo, run_id, lock=True)
    if row.status != "completed":
        raise Conflict("Cannot delete a workflow run that is not completed.")
    run_rows.delete_run(uow.conn, run_id)
