"""Workflows of a repository: listed, looked up by id or file name, enabled, disabled, and
dispatched (`on: workflow_dispatch`) with inputs checked against the declared ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runnerhub.domain import contents, runs
from runnerhub.domain import workflow_file as spec
from runnerhub.domain.models import Workflow
from runnerhub.domain.scopes import Scope
from runnerhub.errors import NotFound, ValidationFailed
from runnerhub.storage import limits, workflows
from runnerhub.storage.unit_of_work import UnitOfWork


def list_workflows(uow: UnitOfWork, repo: Scope) -> list[Workflow]:
    return [_workflow(row) for row in workflows.workflows_of(uow.conn, repo.subject_id)]


def get_workflow(uow: UnitOfWork, repo: Scope, id_or_file: str | int) -> Workflow:
    return _workflow(_row(uow, repo, id_or_file))


def set_enabled(
    uow: UnitOfWork, repo: Scope, id_or_file: str | int, enabled: bool, now: datetime
) -> None:
    row = _row(uow, repo, id_or_file)
    if row.state == "deleted":
        raise NotFound()
    workflows.set_state(uow.conn, row.id, "active" if enabled else "disabled_manually", now)


def dispatch(
    uow: UnitOfWork, repo: Scope, id_or_file: str | int, ref: Any, inputs: Any,
    origin: runs.Origin, now: datetime,
) -> int:  # fmt: skip
    """Start a run of a `workflow_dispatch` workflow on the default branch."""
    row = _row(uow, repo, id_or_file)
    if not isinstance(ref, str) or ref.removeprefix("refs/heads/") != contents.DEFAULT_BRANCH:
        raise ValidationFailed(f"No ref found for: {ref}")
    if row.state != "active":
        raise ValidationFailed("Cannot trigger a 'workflow_dispatch' on a disabled workflow")
    file = workflows.file(uow.conn, repo.subject_id, row.path)
    if file is None:
        raise NotFound()
    content = bytes(file.content)
    parsed, error = runs.parse(content, row.path)
    if parsed is None:
        raise ValidationFailed(f"Invalid workflow file: {error}")
    if parsed.triggers.dispatch is None:
        raise ValidationFailed("Workflow does not have 'workflow_dispatch' trigger")
    if inputs is not None and not isinstance(inputs, dict):
        raise ValidationFailed("Invalid request.\n\nFor 'properties/inputs', is not an object.")
    checked = spec.check_inputs(parsed.triggers.dispatch, inputs or {})
    head = contents.head(uow, repo)
    sha = head.sha if head is not None else file.commit_sha
    trigger = runs.Trigger(origin, "workflow_dispatch", sha, contents.DEFAULT_BRANCH, checked)
    return runs.start_run(uow, repo, row, content, trigger, now, parsed, None)


def _row(uow: UnitOfWork, repo: Scope, id_or_file: str | int) -> Any:
    key = str(id_or_file)
    if key.isascii() and key.isdigit():
        number = int(key) if len(key) <= 19 else 0
        found = (
            workflows.workflow_by_id(uow.conn, repo.subject_id, number)
            if limits.is_id(number)
            else None
        )
    else:
        path = f"{contents.WORKFLOWS_DIR}/{key}"
        found = workflows.workflow_by_path(uow.conn, repo.subject_id, path)
    if found is None:
        raise NotFound()
    return found


def _workflow(row: Any) -> Workflow:
    return Workflow(row.id, row.name, row.path, row.state, row.created_at, row.updated_at)
