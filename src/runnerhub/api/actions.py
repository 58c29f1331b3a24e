"""Workflow files (the contents API), workflows, runs and jobs of a repository.

Logs are downloaded as on GitHub: the documented endpoint answers 302 to a URL that serves
the file. Here that URL is runnerhub's own route under `/_runnerhub/`, behind the same
permission, so a client that follows the redirect with its token reads a private log too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from runnerhub.api import bodies_actions, pagination, wire_actions, wire_contents
from runnerhub.api.operations import Call, Operation, Reply
from runnerhub.api.scopes import repository
from runnerhub.api.wire_actions import Site
from runnerhub.auth.permissions import (
    ACTIONS_READ,
    ACTIONS_WRITE,
    CONTENTS_READ,
    CONTENTS_WRITE,
    Permission,
)
from runnerhub.domain import contents, profiles, run_control, run_history, runs, workflows
from runnerhub.domain.models import WorkflowRun
from runnerhub.domain.profiles import Account
from runnerhub.domain.scopes import ScopeKind
from runnerhub.errors import NotFound, ValidationFailed

CONTENTS_DOCS = "https://docs.github.com/rest/repos/contents"
WORKFLOWS_DOCS = "https://docs.github.com/rest/actions/workflows"
RUNS_DOCS = "https://docs.github.com/rest/actions/workflow-runs"
JOBS_DOCS = "https://docs.github.com/rest/actions/workflow-jobs"
OWN = "/_runnerhub"  # runnerhub's own routes: not in GitHub's description
RUN_FILTERS = ("status", "event", "branch", "actor", "head_sha")


# -- workflow files


def get_content(call: Call) -> Reply:
    found = contents.get_file(call.uow, call.scope, call.path["path"])
    site = _site(call)
    if isinstance(found, list):
        return Reply(wire_contents.directory(found, site))
    return Reply(wire_contents.content_file(found, site))


def put_content(call: Call) -> Reply:
    write = bodies_actions.file_write(call.body)
    data = contents.decode_content(write.content or "")
    change = contents.FileChange(
        call.path["path"], write.message, data, write.sha, write.branch, _origin(call)
    )
    file, commit, created = contents.put_file(call.uow, call.scope, change, call.clock.now)
    body = wire_contents.file_commit(file, commit, change.origin.actor_login, _site(call))
    return Reply(body, 201 if created else 200)


def delete_content(call: Call) -> Reply:
    write = bodies_actions.file_delete(call.body)
    change = contents.FileChange(
        call.path["path"], write.message, None, write.sha, write.branch, _origin(call)
    )
    commit = contents.delete_file(call.uow, call.scope, change, call.clock.now)
    return Reply(wire_contents.file_commit(None, commit, change.origin.actor_login, _site(call)))


# -- workflows


def list_workflows(call: Call) -> Reply:
    page = pagination.parse(call.query)
    found = workflows.list_workflows(call.uow, call.scope)
    shown = list(page.of(found))
    body = wire_actions.workflows(shown, len(found), _site(call))
    return _paged(call, Reply(body), page, len(found))


def get_workflow(call: Call) -> Reply:
    found = workflows.get_workflow(call.uow, call.scope, call.path["workflow_id"])
    return Reply(wire_actions.workflow(found, _site(call)))


def enable_workflow(call: Call) -> Reply:
    workflows.set_enabled(call.uow, call.scope, call.path["workflow_id"], True, call.clock.now)
    return Reply(None, 204)


def disable_workflow(call: Call) -> Reply:
    workflows.set_enabled(call.uow, call.scope, call.path["workflow_id"], False, call.clock.now)
    return Reply(None, 204)


def create_workflow_dispatch(call: Call) -> Reply:
    asked = bodies_actions.dispatch(call.body)
    run_id = workflows.dispatch(
        call.uow, call.scope, call.path["workflow_id"], asked.ref, asked.inputs,
        _origin(call), call.clock.now,
    )  # fmt: skip
    if asked.return_run_details:
        return Reply(wire_actions.dispatched(run_id, _site(call)))
    return Reply(None, 204)


# -- runs


def list_runs_for_repo(call: Call) -> Reply:
    return _runs(call, _filters(call))


def list_workflow_runs(call: Call) -> Reply:
    found = workflows.get_workflow(call.uow, call.scope, call.path["workflow_id"])
    return _runs(call, {**_filters(call), "workflow_id": found.id})


def _runs(call: Call, filters: dict[str, Any]) -> Reply:
    page = pagination.parse(call.query)
    found = run_history.list_runs(call.uow, call.scope, filters, page.per_page, page.page)
    body = wire_actions.runs(found, _site(call), _actors(call, found.runs))
    return _paged(call, Reply(body), page, found.total_count)


def get_run(call: Call) -> Reply:
    found = run_history.get_run(call.uow, call.scope, call.path["run_id"])
    actor = _actors(call, [found]).get(found.actor_login or "")
    return Reply(wire_actions.run(found, _site(call), actor))


def delete_run(call: Call) -> Reply:
    run_control.delete(call.uow, call.scope, call.path["run_id"])
    return Reply(None, 204)


def cancel_run(call: Call) -> Reply:
    run_control.cancel(call.uow, call.scope, call.path["run_id"], call.clock.now)
    return Reply({}, 202)


def force_cancel_run(call: Call) -> Reply:
    run_control.force_cancel(call.uow, call.scope, call.path["run_id"], call.clock.now)
    return Reply({}, 202)


def rerun_run(call: Call) -> Reply:
    return _rerun(call, failed_only=False)


def rerun_failed_jobs(call: Call) -> Reply:
    return _rerun(call, failed_only=True)


def _rerun(call: Call, *, failed_only: bool) -> Reply:
    bodies_actions.rerun(call.body)
    run_control.rerun(
        call.uow, call.scope, call.path["run_id"], _origin(call), call.clock.now,
        failed_only=failed_only,
    )  # fmt: skip
    return Reply({}, 201)


def list_run_artifacts(call: Call) -> Reply:
    """runnerhub keeps no artifacts; `gh run view` asks for them all the same."""
    run_history.get_run(call.uow, call.scope, call.path["run_id"])
    return Reply({"total_count": 0, "artifacts": []})


def download_run_logs(call: Call) -> Reply:
    found = run_history.get_run(call.uow, call.scope, call.path["run_id"])
    return _redirect(call, f"actions/runs/{found.id}/logs")


def run_logs_zip(call: Call) -> Reply:
    run_id = call.path["run_id"]
    data = run_history.run_logs_zip(call.uow, call.scope, run_id)
    disposition = f"attachment; filename=logs_{run_id}.zip"
    return _file(data, "application/zip", {"Content-Disposition": disposition})


# -- jobs


def list_jobs_for_run(call: Call) -> Reply:
    page = pagination.parse(call.query)
    which = call.query.get("filter") or "latest"
    if which not in ("latest", "all"):
        raise ValidationFailed(
            f"Invalid request.\n\nInvalid property filter: {which!r} is not one of latest, all."
        )
    found = run_history.run_jobs(
        call.uow, call.scope, call.path["run_id"], latest=which == "latest"
    )
    shown = list(page.of(found))
    body = wire_actions.jobs(shown, len(found), _site(call))
    return _paged(call, Reply(body), page, len(found))


def get_job(call: Call) -> Reply:
    found = run_history.get_job(call.uow, call.scope, call.path["job_id"])
    return Reply(wire_actions.job(found, _site(call)))


def download_job_logs(call: Call) -> Reply:
    found = run_history.get_job(call.uow, call.scope, call.path["job_id"])
    return _redirect(call, f"actions/jobs/{found.id}/logs")


def job_log_text(call: Call) -> Reply:
    text = run_history.job_log(call.uow, call.scope, call.path["job_id"])
    return _file(text.encode(), "text/plain; charset=utf-8")


# -- shared


def _site(call: Call) -> Site:
    found = profiles.repository(call.uow, call.principal, call.path["owner"], call.path["repo"])
    return Site(call.api_url, call.web_url, found)


def _origin(call: Call) -> runs.Origin:
    assert call.principal is not None, "writes need a user (the permission is not public)"
    who = call.principal
    window = call.clock.offline_after
    return runs.Origin(who.user_id, who.login, call.web_url, call.api_url, window)


def _actors(call: Call, found: list[WorkflowRun]) -> dict[str, Account]:
    """The accounts runs were started by, for their `actor`; a deleted one is left out."""
    accounts: dict[str, Account] = {}
    for login in {r.actor_login for r in found if r.actor_login}:
        try:
            accounts[login] = profiles.user(call.uow, login)
        except NotFound:
            continue
    return accounts


def _filters(call: Call) -> dict[str, Any]:
    return {name: call.query[name] for name in RUN_FILTERS if call.query.get(name)}


def _paged(call: Call, reply: Reply, page: pagination.PageRequest, total: int) -> Reply:
    link = pagination.link_header(call.url, call.query, page, total)
    if link:
        reply.headers["Link"] = link
    return reply


def _redirect(call: Call, below_repo: str) -> Reply:
    owner, repo = call.path["owner"], call.path["repo"]
    location = f"{call.web_url}{OWN}/repos/{owner}/{repo}/{below_repo}"
    return Reply(None, 302, {"Location": location})


def _file(data: bytes, media_type: str, headers: dict[str, str] | None = None) -> Reply:
    # Replies are JSON by default; a Fragment is written out byte for byte (orjson copies it
    # as it is), and an explicit Content-Type wins over the JSON one (starlette).
    return Reply(orjson.Fragment(data), 200, {"Content-Type": media_type, **(headers or {})})


REPO = "/repos/{owner}/{repo}"
CONTENT = "/contents/{path:path}"
WORKFLOW = "/actions/workflows/{workflow_id}"
RUN = "/actions/runs/{run_id:id}"
JOB = "/actions/jobs/{job_id:id}"
R, W = ACTIONS_READ, ACTIONS_WRITE
CR, CW = CONTENTS_READ, CONTENTS_WRITE

Row = tuple[str, str, Callable[[Call], Reply], Permission, str]

# (method, path below the repository, handler, permission, operationId in the namespace)
CONTENTS = (
    ("GET", CONTENT, get_content, CR, "get-content"),
    ("PUT", CONTENT, put_content, CW, "create-or-update-file-contents"),
    ("DELETE", CONTENT, delete_content, CW, "delete-file"),
)
WORKFLOWS = (
    ("GET", "/actions/workflows", list_workflows, R, "list-repo-workflows"),
    ("GET", WORKFLOW, get_workflow, R, "get-workflow"),
    ("PUT", f"{WORKFLOW}/enable", enable_workflow, W, "enable-workflow"),
    ("PUT", f"{WORKFLOW}/disable", disable_workflow, W, "disable-workflow"),
    ("POST", f"{WORKFLOW}/dispatches", create_workflow_dispatch, W, "create-workflow-dispatch"),
)
RUNS = (
    ("GET", f"{WORKFLOW}/runs", list_workflow_runs, R, "list-workflow-runs"),
    ("GET", "/actions/runs", list_runs_for_repo, R, "list-workflow-runs-for-repo"),
    ("GET", RUN, get_run, R, "get-workflow-run"),
    ("DELETE", RUN, delete_run, W, "delete-workflow-run"),
    ("POST", f"{RUN}/cancel", cancel_run, W, "cancel-workflow-run"),
    ("POST", f"{RUN}/force-cancel", force_cancel_run, W, "force-cancel-workflow-run"),
    ("POST", f"{RUN}/rerun", rerun_run, W, "re-run-workflow"),
    ("POST", f"{RUN}/rerun-failed-jobs", rerun_failed_jobs, W, "re-run-workflow-failed-jobs"),
    ("GET", f"{RUN}/logs", download_run_logs, R, "download-workflow-run-logs"),
    ("GET", f"{RUN}/artifacts", list_run_artifacts, R, "list-workflow-run-artifacts"),
)
JOBS = (
    ("GET", f"{RUN}/jobs", list_jobs_for_run, R, "list-jobs-for-workflow-run"),
    ("GET", JOB, get_job, R, "get-job-for-workflow-run"),
    ("GET", f"{JOB}/logs", download_job_logs, R, "download-job-logs-for-workflow-run"),
)
# Where the log redirects lead: runnerhub's own routes, under its own namespace.
TARGETS = (
    ("GET", f"{RUN}/logs", run_logs_zip, R, "workflow-run-logs-zip"),
    ("GET", f"{JOB}/logs", job_log_text, R, "job-logs-text"),
)
# (path prefix, operationId namespace, documentation, rows)
GROUPS: tuple[tuple[str, str, str, tuple[Row, ...]], ...] = (
    (REPO, "repos", CONTENTS_DOCS, CONTENTS),
    (REPO, "actions", WORKFLOWS_DOCS, WORKFLOWS),
    (REPO, "actions", RUNS_DOCS, RUNS),
    (REPO, "actions", JOBS_DOCS, JOBS),
    (OWN + REPO, "runnerhub", RUNS_DOCS, TARGETS),
)


def repository_operations(
    groups: tuple[tuple[str, str, str, tuple[Row, ...]], ...],
) -> tuple[Operation, ...]:
    """The operations of (path prefix, operationId namespace, documentation, rows) groups
    under a repository."""
    return tuple(
        Operation(
            method=method,
            path=prefix + path,
            handler=handler,
            permission=permission,
            operation_id=f"{namespace}/{stem}",
            scope_kind=ScopeKind.REPOSITORY,
            resolve=repository,
            docs_url=docs,
        )
        for prefix, namespace, docs, rows in groups
        for method, path, handler, permission, stem in rows
    )


OPERATIONS = repository_operations(GROUPS)
