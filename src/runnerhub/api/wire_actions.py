"""Workflows, runs and jobs in GitHub's shapes.

Every URL points back at this server (API URLs under the root the caller came through, web
URLs under the public URL): clients such as `gh run view` follow them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from runnerhub.api.wire import timestamp
from runnerhub.api.wire_accounts import node_id, repository, simple_user
from runnerhub.domain.models import Job, JobStep, Workflow, WorkflowRun
from runnerhub.domain.profiles import Account, Repository
from runnerhub.domain.run_history import RunPage


@dataclass(frozen=True, slots=True)
class Site:
    """Where the caller reached the server, and the repository the bodies are about."""

    api: str
    web: str
    repo: Repository

    @property
    def full_name(self) -> str:
        return f"{self.repo.owner.login}/{self.repo.name}"

    @property
    def repo_api(self) -> str:
        return f"{self.api}/repos/{self.full_name}"

    @property
    def repo_web(self) -> str:
        return f"{self.web}/{self.full_name}"

    @property
    def host(self) -> str:
        return self.web.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]


def minimal_repository(site: Site) -> dict[str, Any]:
    """The repository as runs embed it: without the caller's `permissions`."""
    body = repository(site.repo, site.api, site.web)
    body.pop("permissions", None)
    return body


# -- workflows


def workflow(w: Workflow, site: Site) -> dict[str, Any]:
    file_name = w.path.rsplit("/", 1)[-1]
    return {
        "id": w.id,
        "node_id": node_id("Workflow", w.id),
        "name": w.name,
        "path": w.path,
        "state": w.state,
        "created_at": timestamp(w.created_at),
        "updated_at": timestamp(w.updated_at),
        "url": f"{site.repo_api}/actions/workflows/{w.id}",
        "html_url": f"{site.repo_web}/blob/main/{w.path}",
        "badge_url": f"{site.repo_web}/workflows/{quote(file_name)}/badge.svg",
    }


def workflows(found: list[Workflow], total: int, site: Site) -> dict[str, Any]:
    return {"total_count": total, "workflows": [workflow(w, site) for w in found]}


# -- runs


def run(r: WorkflowRun, site: Site, actor: Account | None) -> dict[str, Any]:
    url = f"{site.repo_api}/actions/runs/{r.id}"
    repo = minimal_repository(site)
    body: dict[str, Any] = {
        "id": r.id,
        "name": r.name,
        "node_id": node_id("WorkflowRun", r.id),
        "check_suite_id": r.id,
        "check_suite_node_id": node_id("CheckSuite", r.id),
        "head_branch": r.head_branch,
        "head_sha": r.head_sha,
        "path": r.workflow_path,
        "display_title": _display_title(r),
        "run_number": r.run_number,
        "run_attempt": r.run_attempt,
        "event": r.event,
        "status": r.status,
        "conclusion": r.conclusion,
        "workflow_id": r.workflow_id,
        "url": url,
        "html_url": f"{site.repo_web}/actions/runs/{r.id}",
        "pull_requests": [],
        "referenced_workflows": [],
        "created_at": timestamp(r.created_at),
        "updated_at": timestamp(r.updated_at),
        "run_started_at": timestamp(r.run_started_at or r.created_at),
        "jobs_url": f"{url}/jobs",
        "logs_url": f"{url}/logs",
        "check_suite_url": f"{site.repo_api}/check-suites/{r.id}",
        "artifacts_url": f"{url}/artifacts",
        "cancel_url": f"{url}/cancel",
        "rerun_url": f"{url}/rerun",
        # runnerhub serves no per-attempt endpoints, so there is nothing to point at.
        "previous_attempt_url": None,
        "workflow_url": f"{site.repo_api}/actions/workflows/{r.workflow_id}",
        "head_commit": _head_commit(r, site),
        "repository": repo,
        "head_repository": repo,
        "head_repository_id": site.repo.id,
    }
    if actor is not None:
        user = simple_user(actor, site.api, site.web)
        body["actor"] = user
        body["triggering_actor"] = user
    return body


def runs(page: RunPage, site: Site, actors: Mapping[str, Account]) -> dict[str, Any]:
    listed = [run(r, site, actors.get(r.actor_login or "")) for r in page.runs]
    return {"total_count": page.total_count, "workflow_runs": listed}


def _display_title(r: WorkflowRun) -> str:
    # GitHub titles a push run with its commit's subject, any other run with the workflow.
    if r.event == "push" and r.head_commit is not None and r.head_commit.message:
        return r.head_commit.message.splitlines()[0]
    return r.name


def _head_commit(r: WorkflowRun, site: Site) -> dict[str, Any] | None:
    commit = r.head_commit
    if commit is None:
        return None
    person = None
    if commit.author_login:
        person = {"name": commit.author_login, "email": noreply(commit.author_login, site)}
    return {
        "id": commit.sha,
        "tree_id": commit.sha,  # runnerhub keeps no trees: the commit stands for its own
        "message": commit.message,
        "timestamp": timestamp(commit.created_at),
        "author": person,
        "committer": person,
    }


def noreply(login: str, site: Site) -> str:
    return f"{login}@users.noreply.{site.host}"


def dispatched(run_id: int, site: Site) -> dict[str, Any]:
    return {
        "workflow_run_id": run_id,
        "run_url": f"{site.repo_api}/actions/runs/{run_id}",
        "html_url": f"{site.repo_web}/actions/runs/{run_id}",
    }


# -- jobs


def job(j: Job, site: Site) -> dict[str, Any]:
    run_url = f"{site.repo_api}/actions/runs/{j.run_id}"
    return {
        "id": j.id,
        "run_id": j.run_id,
        "run_url": run_url,
        "run_attempt": j.run_attempt,
        "node_id": node_id("CheckRun", j.id),
        "head_sha": j.head_sha,
        "head_branch": j.head_branch,
        "workflow_name": j.workflow_name,
        "url": f"{site.repo_api}/actions/jobs/{j.id}",
        "html_url": f"{site.repo_web}/actions/runs/{j.run_id}/job/{j.id}",
        "status": j.status,
        "conclusion": j.conclusion,
        "created_at": timestamp(j.created_at),
        # Required and never null in GitHub's schema: a job not yet started shows its creation.
        "started_at": timestamp(j.started_at or j.created_at),
        "completed_at": timestamp(j.completed_at) if j.completed_at else None,
        "name": j.name,
        "steps": [_step(s) for s in j.steps],
        "check_run_url": f"{site.repo_api}/check-runs/{j.id}",
        "labels": j.labels,
        "runner_id": j.runner_id,
        "runner_name": j.runner_name,
        "runner_group_id": j.runner_group_id,
        "runner_group_name": j.runner_group_name,
    }


def jobs(found: list[Job], total: int, site: Site) -> dict[str, Any]:
    return {"total_count": total, "jobs": [job(j, site) for j in found]}


def _step(s: JobStep) -> dict[str, Any]:
    return {
        "name": s.name,
        "status": s.status,
        "conclusion": s.conclusion,
        "number": s.number,
        "started_at": timestamp(s.started_at) if s.started_at else None,
        "completed_at": timestamp(s.completed_at) if s.completed_at else None,
    }
