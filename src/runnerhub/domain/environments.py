"""Deployment environments and their protection rules, GitHub's way.

- A job naming an `environment:` (made on first mention, as GitHub does) whose environment
  has a wait timer or required reviewers is `waiting` once its needs are met, instead of
  `queued`; its `workflow_job` event says `waiting`.
- It is queued (and routed) once the timer has run out (the lost-job sweep looks every few
  seconds) and, if reviewers are required, one of them approved it. A rejection fails it,
  and with it the run; so does no review within 30 days, or the environment's deletion.
- Waiting jobs follow their environment's rules as they are now: the current reviewers may
  approve, a PUT that removes every reviewer or changes the timer (counted from when the
  job started to wait) lets them go on when the rest has passed.
- A review answers per environment of the run's current attempt, for all its waiting jobs,
  and is kept as one deployment per job.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runnerhub.domain import hook_events, journal, profiles
from runnerhub.domain import jobs as job_rules
from runnerhub.domain.profiles import Account
from runnerhub.domain.scopes import Scope
from runnerhub.errors import NotFound, ValidationFailed
from runnerhub.storage import accounts, environments, jobs, limits, runs
from runnerhub.storage.unit_of_work import UnitOfWork

MAX_WAIT_TIMER = 43_200  # minutes (30 days), GitHub's limit
MAX_REVIEWERS = 6
REVIEW_LIMIT = timedelta(days=30)  # a job waiting for a review longer than this fails
NAME_LIMIT = 255
BANNED = "/\\,'\"`"  # characters an environment's name may not hold
REJECTED = "The deployment was rejected or didn't satisfy other protection rules."
EXPIRED = "The job was not approved within 30 days."
BAD_NAME = "{name!r} is not a valid environment name."
DELETED = "The environment {name!r} was deleted while the job waited for it."


@dataclass(frozen=True, slots=True)
class Reviewer:
    type: str  # User (runnerhub has no teams)
    account: Account


@dataclass(frozen=True, slots=True)
class Environment:
    id: int
    name: str
    wait_timer: int
    prevent_self_review: bool
    reviewers: list[Reviewer]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EnvironmentChange:
    """A PUT's body: None leaves a rule as it is (a new environment has none)."""

    wait_timer: int | None = None
    prevent_self_review: bool | None = None
    reviewers: list[tuple[str, int]] | None = None


@dataclass(frozen=True, slots=True)
class PendingDeployment:
    environment: Environment
    wait_timer_started_at: datetime | None
    current_user_can_approve: bool


@dataclass(frozen=True, slots=True)
class Deployment:
    id: int
    environment: str
    sha: str
    ref: str
    creator: Account | None
    created_at: datetime


# -- the environments API


def list_environments(
    uow: UnitOfWork, repo: Scope, per_page: int, page: int
) -> tuple[list[Environment], int]:
    rows = environments.of_repo(uow.conn, repo.subject_id, per_page, (page - 1) * per_page)
    return [_environment(uow, row) for row in rows], environments.count(uow.conn, repo.subject_id)


def get_environment(uow: UnitOfWork, repo: Scope, name: str) -> Environment:
    return _environment(uow, _row(uow, repo, name))


def put_environment(
    uow: UnitOfWork, repo: Scope, name: str, change: EnvironmentChange, now: datetime
) -> Environment:
    """Create the environment, or change its rules (GitHub's PUT does both)."""
    _check_name(name)
    values: dict[str, Any] = {"updated_at": now}
    if change.wait_timer is not None:
        if not 0 <= change.wait_timer <= MAX_WAIT_TIMER:
            raise ValidationFailed(
                f"Invalid request.\n\nwait_timer must be between 0 and {MAX_WAIT_TIMER}."
            )
        values["wait_timer"] = change.wait_timer
    if change.prevent_self_review is not None:
        values["prevent_self_review"] = change.prevent_self_review
    if change.reviewers is not None:
        values["reviewers"] = json.dumps(_checked_reviewers(uow, repo, change.reviewers))
    row = environments.ensure(uow.conn, repo.subject_id, name, now)
    environments.update_environment(uow.conn, row.id, **values)
    found = get_environment(uow, repo, name)
    _follow_rules(uow, found, now)
    return found


def _follow_rules(uow: UnitOfWork, environment: Environment, now: datetime) -> None:
    """The environment's waiting jobs take its rules as they are now."""
    ready = []
    for job_id in jobs.waiting_in(uow.conn, environment.id):
        row = jobs.job(uow.conn, job_id, lock=True)
        if row is None or row.status != "waiting" or row.waiting_since is None:
            continue
        timer = environment.wait_timer
        wait_until = row.waiting_since + timedelta(minutes=timer) if timer else None
        review_needed = row.review_needed and bool(environment.reviewers)
        jobs.update_job(uow.conn, job_id, wait_until=wait_until, review_needed=review_needed)
        if not review_needed and (wait_until is None or wait_until <= now):
            ready.append(job_id)
    if ready:
        _release(uow, ready, now)


def delete_environment(uow: UnitOfWork, repo: Scope, name: str, now: datetime) -> None:
    """Delete it; jobs waiting for it fail, their rules gone with it."""
    row = _row(uow, repo, name, lock="update")  # no job starts to wait for it meanwhile
    for job_id in jobs.waiting_in(uow.conn, row.id):
        _fail(uow, job_id, DELETED.format(name=row.name), now)
    environments.delete_environment(uow.conn, row.id)


def _checked_reviewers(
    uow: UnitOfWork, scope: Scope, asked: list[tuple[str, int]]
) -> list[dict[str, Any]]:
    """Users who can read the repository, as GitHub requires of reviewers."""
    if len(asked) > MAX_REVIEWERS:
        raise ValidationFailed(
            f"Invalid request.\n\nAn environment can have at most {MAX_REVIEWERS} reviewers."
        )
    kept: list[dict[str, Any]] = []
    for kind, account_id in asked:
        if kind == "Team":
            raise ValidationFailed(
                "Invalid request.\n\nrunnerhub has no teams: reviewers are users."
            )
        try:
            if not limits.is_id(account_id):
                raise NotFound()
            account = profiles.user_by_id(uow, account_id)
        except NotFound:
            raise ValidationFailed(f"Invalid request.\n\nNo user has id {account_id}.") from None
        if account.type != "User":
            raise ValidationFailed(f"Invalid request.\n\n{account.login} is not a user.")
        if scope.private and accounts.role_in(uow.conn, scope, account_id) is None:
            raise ValidationFailed(
                f"Invalid request.\n\n{account.login} has no access to the repository."
            )
        if {"type": kind, "id": account_id} not in kept:
            kept.append({"type": kind, "id": account_id})
    return kept


def _check_name(name: str) -> None:
    if not _valid_name(name):
        raise ValidationFailed(f"Invalid request.\n\n{name!r} is not a valid environment name.")


def _valid_name(name: str) -> bool:
    if not name.strip() or any(c in name for c in BANNED):
        return False
    return len(name) <= NAME_LIMIT and len(name.lower()) <= NAME_LIMIT  # both are stored


def _row(uow: UnitOfWork, repo: Scope, name: str, *, lock: str | None = None) -> Any:
    if not _valid_name(name):
        raise NotFound()  # no environment has such a name
    row = environments.by_name(uow.conn, repo.subject_id, name, lock=lock)
    if row is None:
        raise NotFound()
    return row


def _environment(uow: UnitOfWork, row: Any) -> Environment:
    reviewers = []
    for entry in json.loads(row.reviewers):
        try:
            reviewers.append(Reviewer(entry["type"], profiles.user_by_id(uow, entry["id"])))
        except NotFound:
            continue  # a deleted user reviews nothing
    return Environment(
        id=row.id, name=row.name, wait_timer=row.wait_timer,
        prevent_self_review=bool(row.prevent_self_review), reviewers=reviewers,
        created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


# -- jobs waiting for their environment


def hold(
    uow: UnitOfWork, job_id: int, run_id: int, name: str | None, error: str | None,
    now: datetime,
) -> bool:  # fmt: skip
    """The job, whose needs are met, deploys to `name`: made waiting if the environment's
    rules ask for it, or failed if it names none (`error`: its expression failed) or an
    invalid one (answers True: not to be queued), else left to be queued."""
    if error is not None or name is None or not _valid_name(name):
        # The job cannot deploy there: it fails, as one whose runs-on fails to evaluate.
        job = jobs.job(uow.conn, job_id)
        assert job is not None
        note = error or BAD_NAME.format(name=name)
        job_rules.finish(uow, job, "failure", now, note=note, advance=False)
        return True
    found = _of_run(uow, run_id, name, now)
    if found is None:
        return False
    row, reviewers = found
    if not row.wait_timer and not reviewers:
        jobs.update_job(uow.conn, job_id, environment_id=row.id)
        return False
    wait_until = now + timedelta(minutes=row.wait_timer) if row.wait_timer else None
    jobs.update_job(
        uow.conn, job_id, status="waiting", environment_id=row.id, waiting_since=now,
        wait_until=wait_until, review_needed=bool(reviewers),
    )  # fmt: skip
    journal.record(
        uow, "job.waiting", "job %d waits for environment %r", job_id, row.name,
        job_id=job_id, environment=row.name,
    )  # fmt: skip
    hook_events.job_changed(uow, job_id, "waiting", now)
    return True


def _of_run(
    uow: UnitOfWork, run_id: int, name: str, now: datetime
) -> tuple[Any, list[Reviewer]] | None:
    """The run's repository's environment of that name (made if it is named for the first
    time, without rules) and its reviewers still there: read once per transaction, for all
    the jobs of a matrix."""
    key = ("environment", run_id, name.lower())
    if key not in uow.memo:
        origin = runs.origin(uow.conn, run_id)
        if origin is None:
            uow.memo[key] = None
        else:
            row = environments.ensure(uow.conn, origin.repo_id, name, now)
            uow.memo[key] = (row, _environment(uow, row).reviewers)
    found = uow.memo[key]
    assert found is None or isinstance(found, tuple)
    return found


def release_due(uow: UnitOfWork, now: datetime) -> int:
    """Waiting jobs whose rules have passed are queued and routed; those waiting for a
    review past the limit fail. Answers how many moved."""
    ready = jobs.waiting_done(uow.conn, now)
    moved = _release(uow, ready, now) if ready else 0
    for job_id in jobs.unreviewed_before(uow.conn, now - REVIEW_LIMIT):
        moved += _fail(uow, job_id, EXPIRED, now)
    return moved


def pending(
    uow: UnitOfWork, repo: Scope, run_id: int, user_id: int | None
) -> list[PendingDeployment]:
    """The environments the run's current attempt waits for, one entry each."""
    run = _run(uow, repo, run_id)
    found: dict[int, PendingDeployment] = {}
    for job in jobs.waiting_of_run(uow.conn, run_id, run.run_attempt):
        if job.environment_id is None or job.environment_id in found:
            continue
        rows = environments.by_ids(uow.conn, repo.subject_id, [job.environment_id])
        if not rows:
            continue
        environment = _environment(uow, rows[0])
        found[environment.id] = PendingDeployment(
            environment, job.waiting_since,
            _can_approve(environment, user_id, run.triggering_actor_id) and job.review_needed,
        )  # fmt: skip
    return list(found.values())


def review(
    uow: UnitOfWork, repo: Scope, run_id: int, environment_ids: Sequence[int], state: str,
    comment: str, user_id: int, now: datetime,
) -> list[Deployment]:  # fmt: skip
    """Approve or reject what the run waits for in these environments: every one must be
    waiting for a review the caller may give."""
    run = _run(uow, repo, run_id)
    runs.lock(uow.conn, run_id)  # one review of the run at a time
    waiting = jobs.waiting_of_run(uow.conn, run_id, run.run_attempt)
    by_environment: dict[int, list[Any]] = {}
    for job in waiting:
        if job.review_needed and job.environment_id is not None:
            by_environment.setdefault(job.environment_id, []).append(job)
    asked = [i for i in environment_ids if limits.is_id(i)]
    rows = {row.id: row for row in environments.by_ids(uow.conn, repo.subject_id, asked)}
    timed = {job.environment_id for job in waiting}
    for environment_id in environment_ids:
        _check_reviewable(uow, rows.get(environment_id), environment_id in by_environment,
                          environment_id in timed, user_id, run.triggering_actor_id)  # fmt: skip
    made, approved = [], []
    for environment_id in dict.fromkeys(environment_ids):
        for job in by_environment[environment_id]:
            made.append(environments.insert_deployment(
                uow.conn, repo_id=repo.subject_id, environment=rows[environment_id].name,
                job_id=job.id, sha=run.head_sha, ref=run.head_branch, creator_id=user_id,
                state=state, comment=comment, created_at=now,
            ))  # fmt: skip
            if state == "approved":
                jobs.update_job(uow.conn, job.id, review_needed=False)
                if job.wait_until is None or job.wait_until <= now:
                    approved.append(job.id)  # its timer is over too: it goes at once
            else:
                _fail(uow, job.id, REJECTED, now)
    if approved:
        _release(uow, approved, now)
    return [_deployment(uow, row) for row in environments.deployments_by_ids(uow.conn, made)]


def _check_reviewable(
    uow: UnitOfWork, row: Any, review_needed: bool, waiting: bool, user_id: int,
    actor_id: int | None,
) -> None:  # fmt: skip
    """422 unless jobs of the run wait for a review in this environment (`row`: None if it
    is none of the repository's) that the caller may give."""
    if row is None or not (review_needed or waiting):
        name = "" if row is None else f" {row.name!r}"
        raise ValidationFailed(f"Invalid request.\n\nNo pending deployment for environment{name}.")
    if not review_needed:
        raise ValidationFailed(
            f"Invalid request.\n\nEnvironment {row.name!r} requires no review: the run waits "
            "for its wait timer."
        )
    if not _can_approve(_environment(uow, row), user_id, actor_id):
        raise ValidationFailed(
            f"Invalid request.\n\nYou are not a required reviewer of environment {row.name!r}."
        )


def _can_approve(environment: Environment, user_id: int | None, actor_id: int | None) -> bool:
    if user_id is None:
        return False
    if environment.prevent_self_review and user_id == actor_id:
        return False
    return any(r.account.id == user_id for r in environment.reviewers)


def _run(uow: UnitOfWork, repo: Scope, run_id: int) -> Any:
    row = runs.run(uow.conn, repo.subject_id, run_id)
    if row is None:
        raise NotFound()
    return row


def _release(uow: UnitOfWork, job_ids: list[int], now: datetime) -> int:
    """Queue the jobs, route them, and move their runs on."""
    from runnerhub.domain import run_progress  # runs and jobs advance each other

    released: dict[tuple[int, int], list[int]] = {}
    for job_id in job_ids:
        row = jobs.job(uow.conn, job_id, lock=True)  # released meanwhile by another?
        if row is None or row.status != "waiting" or row.run_id is None:
            continue
        jobs.update_job(uow.conn, job_id, status="queued", queued_at=now)
        hook_events.job_changed(uow, job_id, "queued", now)
        released.setdefault((row.run_id, row.run_attempt), []).append(job_id)
    for (run_id, attempt), ids in released.items():
        job_rules.route(uow, ids, now, job_rules.DEFAULT_WINDOW)
        run_progress.advance(uow, run_id, attempt, now)
    return sum(map(len, released.values()))


def _fail(uow: UnitOfWork, job_id: int, note: str, now: datetime) -> int:
    row = jobs.job(uow.conn, job_id, lock=True)
    if row is None or row.status != "waiting":
        return 0
    job_rules.finish(uow, row, "failure", now, note=note)
    return 1


def _deployment(uow: UnitOfWork, row: Any) -> Deployment:
    creator = None
    if row.creator_id is not None:
        try:
            creator = profiles.user_by_id(uow, row.creator_id)
        except NotFound:
            creator = None
    return Deployment(row.id, row.environment, row.sha, row.ref, creator, row.created_at)
