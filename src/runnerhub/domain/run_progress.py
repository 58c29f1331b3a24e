"""Moving a run on as its jobs finish: pending jobs whose needs are done are decided,
siblings of a failed fail-fast matrix cancelled, what became queued routed, and the run's
status rolled up.

Every call reads one aggregate of the attempt's jobs (a `Tally`: how many of each job key
are in each status and conclusion) and reads single jobs only where it says something may
change: keys with pending jobs, a failed fail-fast matrix with jobs not finished, the matrix
max-parallel held back, and the run's end. A completion in a matrix of a hundred no longer
reads the hundred.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from runnerhub import expressions
from runnerhub.domain import environments, hook_events
from runnerhub.domain import jobs as job_rules
from runnerhub.storage import job_tally, jobs, runs
from runnerhub.storage.job_tally import KeyCount, Result
from runnerhub.storage.unit_of_work import UnitOfWork

Status = expressions.Status
STARTED = frozenset({"in_progress", "completed"})  # a run with such jobs is in progress


class Tally:
    """The attempt's jobs counted by job key, status and conclusion."""

    def __init__(self, counts: Sequence[KeyCount]) -> None:
        self.counts = counts

    @property
    def statuses(self) -> set[str]:
        return {c.status for c in self.counts}

    @property
    def pending(self) -> bool:
        return "pending" in self.statuses

    def done(self, key: str) -> bool:
        """Every job of the key completed (a key with no jobs is done: nothing to wait for)."""
        return all(c.status == "completed" for c in self.counts if c.job_key == key)

    def failing_keys(self) -> list[str]:
        """Keys with a failed job and jobs not finished: where fail-fast may cancel."""
        failed = {c.job_key for c in self.counts if c.conclusion == "failure"}
        return sorted(key for key in failed if not self.done(key))


def _tally(uow: UnitOfWork, run_id: int, attempt: int) -> Tally:
    return Tally(job_tally.tally(uow.conn, run_id, attempt))


def advance(uow: UnitOfWork, run_id: int, attempt: int, now: datetime, *,
            window: timedelta | None = None, freed: str | None = None) -> None:  # fmt: skip
    """Decide pending jobs whose needs are done, cancel siblings of a failed fail-fast
    matrix, route what became queued (and, when `freed` names a matrix held back by
    max-parallel, its queued jobs), and roll the run's status up."""
    runs.lock(uow.conn, run_id)  # before the tally: concurrent completions see each other
    tally = _tally(uow, run_id, attempt)
    queued = _decide(uow, run_id, attempt, tally, now) if tally.pending else []
    cancelling = _fail_fast(uow, run_id, attempt, tally, now)
    if cancelling:  # the matrix may have ended: what needs it is decided now
        tally = _tally(uow, run_id, attempt)
        queued += _decide(uow, run_id, attempt, tally, now) if tally.pending else []
    if freed is not None:
        queued += job_tally.queued_ids(uow.conn, run_id, attempt, freed)
    routed = job_rules.route(uow, queued, now, window or job_rules.DEFAULT_WINDOW) if queued else 0
    if tally.pending or cancelling or routed:  # jobs moved since the tally was read
        tally = _tally(uow, run_id, attempt)
    _roll_up(uow, run_id, attempt, tally, now)


# -- needs


def _decide(uow: UnitOfWork, run_id: int, attempt: int, tally: Tally, now: datetime) -> list[int]:
    """Pending jobs whose needs have all completed: queued, or skipped by their `if`, a key
    at a time (the jobs of a key share their needs and `if`). Answers the ids queued."""
    queued: list[int] = []
    while tally.pending:  # a skipped job can decide its own dependants
        pending = job_tally.pending_plans(uow.conn, run_id, attempt)
        plans = {key: json.loads(message or "{}")["plan"] for key, message in pending.items()}
        ready = {key: plan for key, plan in plans.items() if all(map(tally.done, plan["needs"]))}
        if not ready:
            break
        for key, plan in ready.items():
            queued += _decide_key(uow, run_id, attempt, key, plan, now)
        tally = _tally(uow, run_id, attempt)
    return queued


def _decide_key(
    uow: UnitOfWork, run_id: int, attempt: int, key: str, plan: dict[str, Any], now: datetime
) -> list[int]:
    conn = uow.conn
    needs = plan["needs"]
    if not needs and plan["if"] is None and not plan.get("environment"):
        # nothing to decide: queued as they are
        plain = job_tally.pending_ids(conn, run_id, attempt, key)
        jobs.set_status(conn, plain, "queued")
        hook_events.jobs_changed(uow, plain, "queued", now)
        return plain
    context = _needs_context(needs, job_tally.results(conn, run_id, attempt, needs))
    queued = []
    for job_id, text in job_tally.pending_messages(conn, run_id, attempt, key):
        message = json.loads(text)
        if _should_run(message, context):
            message["contexts"]["needs"] = context
            jobs.update_job(conn, job_id, status="queued", message=json.dumps(message))
            if message["plan"].get("environment") and not message["plan"].get("error"):
                name, error = _environment(message)
                if environments.hold(uow, job_id, run_id, name, error, now):
                    continue  # waiting for its environment's rules, or failed
            queued.append(job_id)
            hook_events.job_changed(uow, job_id, "queued", now)
        else:
            jobs.update_job(conn, job_id, status="completed", conclusion="skipped",
                            completed_at=now, steps="[]")  # fmt: skip
            hook_events.job_changed(uow, job_id, "completed", now)
    return queued


def _should_run(message: dict[str, Any], needs: dict[str, Any]) -> bool:
    plan = message["plan"]
    if plan.get("error"):
        return True  # it runs only to fail with the error (see route's caller)
    results = [need["result"] for need in needs.values()]
    status = Status.SUCCESS
    if "failure" in results:
        status = Status.FAILURE
    elif "cancelled" in results:
        status = Status.CANCELLED
    if plan["if"] is None and "skipped" in results:
        return False
    contexts = {**message["contexts"], "needs": needs}
    try:
        return expressions.condition(plan["if"], contexts, status)
    except expressions.ExpressionError:
        return False


def _environment(message: dict[str, Any]) -> tuple[str | None, str | None]:
    """The environment the job deploys to, its expressions evaluated; or why there is none."""
    try:
        name = expressions.interpolate(message["plan"]["environment"], message["contexts"])
    except expressions.ExpressionError as error:
        return None, f"Error when evaluating the environment of job {message['jobKey']!r}: {error}"
    return name.strip() or None, None


def _needs_context(needs: list[str], results: list[Result]) -> dict[str, Any]:
    """`needs.<key>.result` and `.outputs`, from the jobs of each key (outputs of later jobs
    of a matrix win)."""
    context = {}
    for key in needs:
        rows = [r for r in results if r.job_key == key]
        outputs: dict[str, Any] = {}
        for row in rows:
            outputs.update(json.loads(row.outputs))
        context[key] = {"result": _result({r.conclusion for r in rows}), "outputs": outputs}
    return context


def _result(conclusions: set[str | None]) -> str:
    for result in ("failure", "cancelled"):
        if result in conclusions:
            return result
    if conclusions and conclusions <= {"skipped"}:
        return "skipped"
    return "success"


# -- fail-fast


def _fail_fast(uow: UnitOfWork, run_id: int, attempt: int, tally: Tally, now: datetime) -> bool:
    """Jobs not finished of a matrix with `fail-fast` and a failed job are cancelled.
    Answers whether there were any."""
    keys = tally.failing_keys()
    if not keys:
        return False
    failed = job_tally.failures(uow.conn, run_id, attempt, keys)
    fast = {f.job_key for f in failed if f.matrix not in (None, "{}")
            and json.loads(f.message or "{}")["plan"]["failFast"]}  # fmt: skip
    for job_id in job_tally.unfinished_ids(uow.conn, run_id, attempt, sorted(fast)):
        current = jobs.job(uow.conn, job_id)  # read again: cancelling one can end others
        if current is not None and current.status != "completed":
            job_rules.request_cancel(uow, current, now, advance=False)  # this call moves on
    return bool(fast)


# -- the run's status


def started(uow: UnitOfWork, run_id: int, now: datetime) -> None:
    """A runner took one of the run's jobs: a queued run is in progress from now."""
    if runs.mark_started(uow.conn, run_id, now):
        hook_events.run_changed(uow, run_id, "in_progress", now)


def _roll_up(uow: UnitOfWork, run_id: int, attempt: int, tally: Tally, now: datetime) -> None:
    run = runs.progress(uow.conn, run_id)
    if run is None or run.run_attempt != attempt:
        return
    statuses = tally.statuses
    if not statuses:
        runs.update_run(uow.conn, run_id, status="completed", conclusion="success", updated_at=now)
        hook_events.run_changed(uow, run_id, "completed", now)
    elif statuses == {"completed"}:
        conclusion = _conclusion(uow, run_id, attempt)
        runs.update_run(uow.conn, run_id, status="completed", conclusion=conclusion,
                        updated_at=now)  # fmt: skip
        hook_events.run_changed(uow, run_id, "completed", now)
    elif run.status == "queued" and "waiting" in statuses and not statuses & STARTED:
        # Held by an environment before anything ran. A run in progress stays so: its
        # workflow_run in_progress is sent once.
        runs.update_run(uow.conn, run_id, status="waiting", updated_at=now)
    elif statuses & {"in_progress", "completed"} and run.status != "in_progress":
        runs.update_run(uow.conn, run_id, status="in_progress", updated_at=now)
        hook_events.run_changed(uow, run_id, "in_progress", now)
    elif run.status == "waiting":  # its jobs are queued again: the run is too
        runs.update_run(uow.conn, run_id, status="queued", updated_at=now)


def _conclusion(uow: UnitOfWork, run_id: int, attempt: int) -> str:
    """Failure over cancelled over success, not counting jobs that continue on error."""
    ended = job_tally.concluded(uow.conn, run_id, attempt, ("failure", "cancelled"))
    counted = {conclusion for conclusion, message in ended if not _continues_on_error(message)}
    if "failure" in counted:
        return "failure"
    if "cancelled" in counted:
        return "cancelled"
    return "success"


def _continues_on_error(message: str | None) -> bool:
    return bool(json.loads(message or "{}").get("continueOnError"))
