"""Workflow runs: made from a workflow file when it is pushed or dispatched, and their jobs
planned from it (domain/run_progress.py moves them on as jobs finish)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runnerhub import expressions
from runnerhub.domain import hook_events
from runnerhub.domain import workflow_file as spec
from runnerhub.domain.models import Commit
from runnerhub.domain.run_progress import advance
from runnerhub.domain.scopes import Scope
from runnerhub.storage import accounts, jobs, runs, workflows
from runnerhub.storage.unit_of_work import UnitOfWork

Status = expressions.Status


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asks, and where the server is (for the contexts' URLs and routing)."""

    actor_id: int
    actor_login: str
    web_url: str
    api_url: str
    window: timedelta  # the liveness window: who counts as online


@dataclass(frozen=True, slots=True)
class Trigger:
    """What starts a run."""

    origin: Origin
    event: str  # push | workflow_dispatch
    sha: str
    branch: str
    inputs: dict[str, Any]

    @property
    def actor_id(self) -> int:
        return self.origin.actor_id

    @property
    def actor_login(self) -> str:
        return self.origin.actor_login

    @property
    def web_url(self) -> str:
        return self.origin.web_url

    @property
    def api_url(self) -> str:
        return self.origin.api_url

    @property
    def window(self) -> timedelta:
        return self.origin.window


# -- starting


def start_push_runs(
    uow: UnitOfWork, repo: Scope, commit: Commit, origin: Origin, now: datetime
) -> list[int]:
    """Every active workflow of the repository that runs `on: push` of this branch. A file
    that does not parse gets a run that fails at once, as on GitHub."""
    trigger = Trigger(origin, "push", commit.sha, commit.branch, {})
    started = []
    for row in workflows.files(uow.conn, repo.subject_id):
        workflow = workflows.workflow_by_path(uow.conn, repo.subject_id, row.path)
        if workflow is None or workflow.state != "active":
            continue
        content = bytes(row.content)
        parsed, error = parse(content, row.path)
        if parsed is not None and not _pushed(parsed, trigger.branch):
            continue
        started.append(start_run(uow, repo, workflow, content, trigger, now, parsed, error))
    return started


def _pushed(parsed: spec.Workflow, branch: str) -> bool:
    push = parsed.triggers.push
    return push is not None and spec.branch_matches(push.branches, push.branches_ignore, branch)


def start_run(
    uow: UnitOfWork, repo: Scope, workflow: Any, content: bytes, trigger: Trigger,
    now: datetime, parsed: spec.Workflow | None, error: str | None,
) -> int:  # fmt: skip
    number = workflows.next_run_number(uow.conn, workflow.id)
    run_id = runs.insert_run(
        uow.conn, repo_id=repo.subject_id, workflow_id=workflow.id, run_number=number,
        run_attempt=1, name=parsed.name if parsed else workflow.path, event=trigger.event,
        status="queued" if parsed else "completed", conclusion=None if parsed else "failure",
        head_sha=trigger.sha, head_branch=trigger.branch, actor_id=trigger.actor_id,
        triggering_actor_id=trigger.actor_id, inputs=json.dumps(trigger.inputs),
        content=content, error=error, created_at=now, updated_at=now, run_started_at=now,
    )  # fmt: skip
    hook_events.run_changed(uow, run_id, "requested", now)
    if parsed is None:
        hook_events.run_changed(uow, run_id, "completed", now)
    else:
        plan(uow, repo, run_id, number, 1, parsed, trigger, now)
        advance(uow, run_id, 1, now, window=trigger.window)
    return run_id


def parse(content: bytes, path: str) -> tuple[spec.Workflow | None, str | None]:
    try:
        parsed = spec.parse(content.decode("utf-8", errors="replace"), path)
        spec.refuse_uses(parsed)
    except spec.WorkflowError as error:
        return None, error.message
    return parsed, None


def _github(
    repo: Scope, run_id: int, number: int, attempt: int, parsed: spec.Workflow, trigger: Trigger
) -> dict[str, Any]:
    owner = repo.name.split("/", 1)[0]
    event: dict[str, Any] = {"ref": f"refs/heads/{trigger.branch}", "after": trigger.sha}
    if trigger.event == "workflow_dispatch":
        event = {"inputs": trigger.inputs, "ref": f"refs/heads/{trigger.branch}"}
    return {
        "repository": repo.name, "repository_owner": owner, "repository_id": str(repo.subject_id),
        "run_id": str(run_id), "run_number": str(number), "run_attempt": str(attempt),
        "sha": trigger.sha, "ref": f"refs/heads/{trigger.branch}", "ref_name": trigger.branch,
        "ref_type": "branch", "event_name": trigger.event, "event": event,
        "actor": trigger.actor_login, "triggering_actor": trigger.actor_login,
        "workflow": parsed.name,
        "workflow_ref": f"{repo.name}/{parsed.path}@refs/heads/{trigger.branch}",
        "server_url": trigger.web_url, "api_url": trigger.api_url, "retention_days": "90",
    }  # fmt: skip


def plan(
    uow: UnitOfWork, repo: Scope, run_id: int, number: int, attempt: int,
    parsed: spec.Workflow, trigger: Trigger, now: datetime, keep: frozenset[str] = frozenset(),
) -> None:  # fmt: skip
    """Insert the attempt's jobs, `pending` until `advance` decides them. Jobs named in
    `keep` are not planned: the caller copies their previous attempt's results."""
    org_scope, enterprise_scope = accounts.routing_scopes(uow.conn, repo)
    github = _github(repo, run_id, number, attempt, parsed, trigger)
    base = {"github": github, "inputs": trigger.inputs, "vars": {}, "secrets": {}, "needs": {}}
    for key, job in parsed.jobs.items():
        if key in keep:
            continue
        combos = _combinations(job, base)
        rows = []
        for index, combo in enumerate(combos):
            contexts = {**base, "github": {**github, "job": key}, "matrix": combo,
                        "strategy": _strategy(job, index, len(combos), base)}  # fmt: skip
            row = _job_row(repo, run_id, attempt, parsed, job, contexts, now)
            rows.append({"scope_id": repo.id, "org_scope_id": org_scope,
                         "enterprise_scope_id": enterprise_scope, **row})  # fmt: skip
        jobs.insert_jobs(uow.conn, rows)


def _combinations(job: spec.JobSpec, contexts: dict[str, Any]) -> list[dict[str, Any]]:
    matrix = expressions.value(job.matrix, contexts) if job.matrix is not None else None
    combos = spec.expand_matrix(matrix) if matrix else []
    return combos or [{}]


def _strategy(
    job: spec.JobSpec, index: int, total: int, contexts: dict[str, Any]
) -> dict[str, Any]:
    return {
        "fail-fast": expressions.truthy(expressions.value(job.fail_fast, contexts)),
        "max-parallel": expressions.value(job.max_parallel, contexts) or total,
        "job-index": index, "job-total": total,
    }  # fmt: skip


def _job_row(
    repo: Scope, run_id: int, attempt: int, parsed: spec.Workflow, job: spec.JobSpec,
    contexts: dict[str, Any], now: datetime,
) -> dict[str, Any]:  # fmt: skip
    name, labels, error = _name_and_labels(job, contexts)
    steps = [{"number": 1, "name": "Set up job", "status": "queued", "conclusion": None}]
    steps += [{"number": i + 2, "name": _shown(_step_name(s), contexts), "status": "queued",
               "conclusion": None} for i, s in enumerate(job.steps)]  # fmt: skip
    steps.append({"number": len(steps) + 1, "name": "Complete job", "status": "queued",
                  "conclusion": None})  # fmt: skip
    own = job.defaults_run
    defaults = own if (own.shell or own.working_directory) else parsed.defaults_run
    strategy = contexts["strategy"]
    message = {
        "runId": run_id, "runAttempt": attempt, "jobKey": job.key, "jobName": name,
        "repository": repo.name, "workflow": parsed.name,
        "timeoutMinutes": _number(expressions.value(job.timeout_minutes, contexts), 360),
        "continueOnError": expressions.truthy(expressions.value(job.continue_on_error, contexts)),
        "env": {**parsed.env, **job.env},
        "defaults": {"shell": defaults.shell, "workingDirectory": defaults.working_directory},
        "contexts": contexts,
        "steps": [_step_message(i + 2, s) for i, s in enumerate(job.steps)],
        "outputs": job.outputs, "masks": [],
        "plan": {"needs": list(job.needs), "if": job.if_, "error": error,
                 "failFast": strategy["fail-fast"], "maxParallel": strategy["max-parallel"],
                 "jobTotal": strategy["job-total"], "environment": job.environment},
    }  # fmt: skip
    return {
        "run_id": run_id, "run_attempt": attempt, "job_key": job.key, "name": name[:255],
        "matrix": json.dumps(contexts["matrix"]), "labels": json.dumps(labels),
        "runner_group": job.runs_on_group, "status": "pending", "steps": json.dumps(steps),
        "message": json.dumps(message), "created_at": now,
    }  # fmt: skip


def _name_and_labels(
    job: spec.JobSpec, contexts: dict[str, Any]
) -> tuple[str, list[str], str | None]:
    try:
        name = expressions.interpolate(job.name, contexts) if job.name != job.key else job.key
        if job.name == job.key and contexts["matrix"]:
            values = ", ".join(expressions.to_string(v) for v in contexts["matrix"].values())
            name = f"{job.key} ({values})"
        runs_on = expressions.value(job.runs_on, contexts)
    except expressions.ExpressionError as error:
        return job.key, [], f"Error when evaluating job {job.key!r}: {error}"
    labels = [runs_on] if isinstance(runs_on, str) else [str(x) for x in runs_on or []]
    return name, labels, None


def _shown(text: str, contexts: dict[str, Any]) -> str:
    """A step's name as far as the run's contexts tell (steps and env are the agent's)."""
    try:
        return expressions.interpolate(text, contexts)
    except expressions.ExpressionError:
        return text


def _number(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _step_name(step: spec.StepSpec) -> str:
    if step.name:
        return step.name
    first = (step.run or "").strip().splitlines()
    return f"Run {first[0]}" if first else "Run"


def _step_message(number: int, step: spec.StepSpec) -> dict[str, Any]:
    return {
        "number": number, "id": step.id, "name": _step_name(step), "run": step.run,
        "shell": step.shell, "env": step.env, "workingDirectory": step.working_directory,
        "if": step.if_, "continueOnError": step.continue_on_error,
        "timeoutMinutes": step.timeout_minutes,
    }  # fmt: skip
