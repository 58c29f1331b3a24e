"""Reading runs and jobs: lists with GitHub's filters, one run, its jobs, and their logs."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any

from runnerhub.domain import jobs as job_rules
from runnerhub.domain.models import Commit, Job, WorkflowRun
from runnerhub.domain.scopes import Scope
from runnerhub.errors import NotFound
from runnerhub.storage import jobs, limits, runs, workflows
from runnerhub.storage.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class RunPage:
    total_count: int
    runs: list[WorkflowRun]


def list_runs(
    uow: UnitOfWork, repo: Scope, filters: dict[str, Any], per_page: int, page: int
) -> RunPage:
    total = runs.count(uow.conn, repo.subject_id, filters)
    offset = (page - 1) * per_page
    rows = runs.page(uow.conn, repo.subject_id, filters, per_page, offset) if offset < total else []
    commits = workflows.commits_by_sha(uow.conn, repo.subject_id, list({r.head_sha for r in rows}))
    return RunPage(total, [_run(row, commits.get(row.head_sha)) for row in rows])


def get_run(uow: UnitOfWork, repo: Scope, run_id: int) -> WorkflowRun:
    row = run_row(uow, repo, run_id)
    return _run(row, workflows.commit_by_sha(uow.conn, repo.subject_id, row.head_sha))


def run_row(uow: UnitOfWork, repo: Scope, run_id: int, *, lock: bool = False) -> Any:
    row = runs.run(uow.conn, repo.subject_id, run_id, lock=lock) if limits.is_id(run_id) else None
    if row is None:
        raise NotFound()
    return row


def run_jobs(uow: UnitOfWork, repo: Scope, run_id: int, *, latest: bool = True) -> list[Job]:
    """The run's jobs: of its latest attempt (`filter=latest`), or of every attempt."""
    row = run_row(uow, repo, run_id)
    rows = jobs.jobs_of_run(uow.conn, run_id, row.run_attempt if latest else None)
    return [job_rules.to_job(job, row) for job in rows]


def get_job(uow: UnitOfWork, repo: Scope, job_id: int) -> Job:
    row, run = _job_and_run(uow, repo, job_id)
    return job_rules.to_job(row, run)


def job_log(uow: UnitOfWork, repo: Scope, job_id: int) -> str:
    row, _ = _job_and_run(uow, repo, job_id)
    return job_rules.log_text(uow, row.id)


def run_logs_zip(uow: UnitOfWork, repo: Scope, run_id: int) -> bytes:
    """A zip as GitHub's: `N_JOB.txt` with each job's whole log, and `JOB/N_STEP.txt` per
    step (what `gh run view --log` reads)."""
    row = run_row(uow, repo, run_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, job in enumerate(jobs.jobs_of_run(uow.conn, run_id, row.run_attempt)):
            name = _file_name(job.name)
            lines = jobs.log_lines(uow.conn, job.id)
            archive.writestr(f"{index}_{name}.txt", _text(lines))
            for step in job_rules.to_job(job, row).steps:
                step_lines = [line for line in lines if line.step == step.number]
                step_file = f"{name}/{step.number}_{_file_name(step.name)}.txt"
                archive.writestr(step_file, _text(step_lines))
    return buffer.getvalue()


def _text(lines: list[Any]) -> str:
    return "".join(f"{job_rules.stamp_of(line)} {line.text}\n" for line in lines)


def _file_name(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|]', "", name)[:100] or "job"


def _job_and_run(uow: UnitOfWork, repo: Scope, job_id: int) -> tuple[Any, Any]:
    row = jobs.job(uow.conn, job_id) if limits.is_id(job_id) else None
    if row is None or row.scope_id != repo.id or row.run_id is None:
        raise NotFound()
    run = runs.run(uow.conn, repo.subject_id, row.run_id)
    if run is None:
        raise NotFound()
    return row, run


def _run(row: Any, commit: Any) -> WorkflowRun:
    head = None
    if commit is not None:
        head = Commit(commit.sha, commit.branch, commit.message, commit.created_at, row.actor_login)
    return WorkflowRun(
        id=row.id, workflow_id=row.workflow_id, workflow_path=row.workflow_path, name=row.name,
        run_number=row.run_number, run_attempt=row.run_attempt, event=row.event,
        status=row.status, conclusion=row.conclusion, head_sha=row.head_sha,
        head_branch=row.head_branch, actor_login=row.actor_login, created_at=row.created_at,
        updated_at=row.updated_at, run_started_at=row.run_started_at, head_commit=head,
    )  # fmt: skip
