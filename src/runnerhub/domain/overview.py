"""A scope as the dashboard shows it: its runners (status, labels, group, last seen), the
jobs queued for or running on them, and one job's log. Reads only; deleting a runner and
issuing registration tokens are the API's own domain functions (runners, runner_tokens)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from runnerhub.domain.jobs import log_text
from runnerhub.domain.liveness import status
from runnerhub.domain.models import Label
from runnerhub.domain.runners import Clock
from runnerhub.domain.scopes import Scope
from runnerhub.errors import NotFound
from runnerhub.storage import labels, overview, runners
from runnerhub.storage.overview import JobLine, Place
from runnerhub.storage.unit_of_work import UnitOfWork

__all__ = ["JobLine", "JobLog", "Place", "RunnerPage", "RunnerView"]

PAGE_SIZE = 100
ACTIVE_JOBS_SHOWN = 200


@dataclass(frozen=True, slots=True)
class RunnerView:
    id: int
    name: str
    os: str
    status: str  # online | offline
    busy: bool
    ephemeral: bool
    labels: list[Label]
    group: str
    last_seen_at: datetime | None
    version: str | None


@dataclass(frozen=True, slots=True)
class RunnerPage:
    runners: list[RunnerView]
    total_count: int
    page: int
    pages: int


def runner_page(uow: UnitOfWork, scope: Scope, clock: Clock, page: int) -> RunnerPage:
    """One page of the scope's runners, in id order: three queries, whatever its size."""
    total = runners.count(uow.conn, scope.id, None)  # kept exact by triggers (0003)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = overview.runners(uow.conn, scope.id, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    by_runner = labels.of_runners(uow.conn, [row.id for row in rows])
    views = [
        RunnerView(
            id=row.id,
            name=row.name,
            os=row.os,
            status=status(row.last_seen_at, clock.now, clock.offline_after),
            busy=row.busy,
            ephemeral=row.ephemeral,
            labels=by_runner.get(row.id, []),
            group=row.group_name,
            last_seen_at=row.last_seen_at,
            version=row.version,
        )
        for row in rows
    ]
    return RunnerPage(views, total, page, pages)


def active_jobs(uow: UnitOfWork, scope: Scope) -> list[JobLine]:
    return overview.active_jobs(uow.conn, scope.id, ACTIVE_JOBS_SHOWN)


def job_labels(job: JobLine) -> list[str]:
    return [str(name) for name in json.loads(job.labels)]


@dataclass(frozen=True, slots=True)
class JobLog:
    job: JobLine
    text: str


def job_in_scope(uow: UnitOfWork, scope: Scope, job_id: int) -> JobLine:
    """A job the scope's runners could take or hold; NotFound for any other."""
    found = overview.job(uow.conn, scope.id, job_id)
    if found is None:
        raise NotFound()
    return found


def job_log(uow: UnitOfWork, job: JobLine) -> JobLog:
    return JobLog(job, log_text(uow, job.id))


def places(uow: UnitOfWork, user_id: int) -> list[Place]:
    return overview.places(uow.conn, user_id, limit=500)
