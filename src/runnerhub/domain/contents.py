"""Workflow files through GitHub's contents API: each write is a commit on the repository's
default branch, and a commit starts the runs of the workflows it triggers (`on: push`).

runnerhub stores workflow files only (`.github/workflows/*.yml|yaml`); anything else is
refused with 422, so a client never believes a file was kept that was not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from runnerhub.domain import runs, scopes
from runnerhub.domain import workflow_file as spec
from runnerhub.domain.models import Commit, ContentFile
from runnerhub.domain.scopes import Scope
from runnerhub.errors import Conflict, NotFound, RunnerhubError, UserError, ValidationFailed
from runnerhub.storage import workflows
from runnerhub.storage.unit_of_work import UnitOfWork

DEFAULT_BRANCH = "main"
WORKFLOWS_DIR = ".github/workflows"
_WORKFLOW_PATH = re.compile(r"^\.github/workflows/[^/]+\.ya?ml$")
MAX_FILE_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class FileChange:
    path: str
    message: str
    content: bytes | None  # None: delete
    sha: str | None  # the blob sha the client believes is current
    branch: str | None
    origin: runs.Origin


def blob_sha(content: bytes) -> str:
    """Git's object id of a blob: what the contents API calls a file's sha."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def decode_content(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise ValidationFailed("Invalid request.\n\ncontent is not valid Base64.") from None


def put_file(
    uow: UnitOfWork, repo: Scope, change: FileChange, now: datetime
) -> tuple[ContentFile, Commit, bool]:
    """Create or update a workflow file (its current sha is required to update, as on
    GitHub), commit it, and start the runs the commit triggers. True: it was created."""
    _check_path(change.path)
    _check_branch(change.branch)
    assert change.content is not None
    if len(change.content) > MAX_FILE_BYTES:
        raise ValidationFailed(
            f"Invalid request.\n\nWorkflow files are at most {MAX_FILE_BYTES} bytes."
        )
    current = workflows.file(uow.conn, repo.subject_id, change.path)
    if current is not None:
        if change.sha is None:
            raise ValidationFailed('Invalid request.\n\n"sha" wasn\'t supplied.')
        if change.sha != current.blob_sha:
            raise Conflict(f"{change.path} does not match {change.sha}")
    _refuse_actions(change.path, change.content)
    commit = _commit(uow, repo, change, now)
    sha = blob_sha(change.content)
    workflows.put_file(
        uow.conn, repo_id=repo.subject_id, path=change.path, content=change.content,
        blob_sha=sha, commit_sha=commit.sha, now=now,
    )  # fmt: skip
    _save_workflow(uow, repo, change.path, change.content, now)
    runs.start_push_runs(uow, repo, commit, change.origin, now)
    return ContentFile(change.path, sha, change.content), commit, current is None


def delete_file(uow: UnitOfWork, repo: Scope, change: FileChange, now: datetime) -> Commit:
    _check_path(change.path)
    _check_branch(change.branch)
    current = workflows.file(uow.conn, repo.subject_id, change.path)
    if current is None:
        raise NotFound()
    if change.sha is None:
        raise ValidationFailed('Invalid request.\n\n"sha" wasn\'t supplied.')
    if change.sha != current.blob_sha:
        raise Conflict(f"{change.path} does not match {change.sha}")
    commit = _commit(uow, repo, change, now)
    workflows.delete_file(uow.conn, repo.subject_id, change.path)
    found = workflows.workflow_by_path(uow.conn, repo.subject_id, change.path)
    if found is not None:
        workflows.set_state(uow.conn, found.id, "deleted", now)
    return commit


def get_file(uow: UnitOfWork, repo: Scope, path: str) -> ContentFile | list[ContentFile]:
    """A file, or the entries of `.github/workflows` (a directory answers a list)."""
    path = path.strip("/")
    if path == WORKFLOWS_DIR:
        found = workflows.files(uow.conn, repo.subject_id)
        return [ContentFile(row.path, row.blob_sha, bytes(row.content)) for row in found]
    row = workflows.file(uow.conn, repo.subject_id, path)
    if row is None:
        raise NotFound()
    return ContentFile(row.path, row.blob_sha, bytes(row.content))


def head(uow: UnitOfWork, repo: Scope) -> Commit | None:
    row = workflows.head_commit(uow.conn, repo.subject_id, DEFAULT_BRANCH)
    return None if row is None else Commit(row.sha, row.branch, row.message, row.created_at, None)


def _check_path(path: str) -> None:
    if not _WORKFLOW_PATH.match(path):
        raise ValidationFailed(
            "Invalid request.\n\nrunnerhub stores workflow files only: "
            f"{WORKFLOWS_DIR}/NAME.yml or .yaml, not {path!r}."
        )


def _check_branch(branch: str | None) -> None:
    if branch not in (None, DEFAULT_BRANCH, f"refs/heads/{DEFAULT_BRANCH}"):
        raise ValidationFailed(
            f"Invalid request.\n\nBranch {branch} not found: runnerhub keeps one branch, "
            f"{DEFAULT_BRANCH}."
        )


def _refuse_actions(path: str, content: bytes) -> None:
    """A `uses:` step is refused when the file is stored, never failed silently later. A
    file that does not parse is stored: its runs fail at once with the parse error."""
    try:
        parsed = spec.parse(content.decode("utf-8", errors="replace"), path)
    except spec.WorkflowError:
        return
    try:
        spec.refuse_uses(parsed)
    except spec.WorkflowError as error:
        raise ValidationFailed(f"Invalid request.\n\n{error}") from None


def _commit(uow: UnitOfWork, repo: Scope, change: FileChange, now: datetime) -> Commit:
    sha = hashlib.sha1(secrets.token_bytes(20), usedforsecurity=False).hexdigest()
    message = change.message or f"Update {change.path}"
    workflows.insert_commit(
        uow.conn, repo_id=repo.subject_id, sha=sha, branch=DEFAULT_BRANCH, message=message,
        author_id=change.origin.actor_id, now=now,
    )  # fmt: skip
    return Commit(sha, DEFAULT_BRANCH, message, now, None)


def _save_workflow(uow: UnitOfWork, repo: Scope, path: str, content: bytes, now: datetime) -> None:
    try:
        name = spec.parse(content.decode("utf-8", errors="replace"), path).name
    except spec.WorkflowError:
        name = path
    current = workflows.workflow_by_path(uow.conn, repo.subject_id, path)
    disabled = current is not None and current.state == "disabled_manually"
    state = "disabled_manually" if disabled else "active"
    workflows.save_workflow(uow.conn, repo.subject_id, path, name, state, now)


def put_by_operator(
    uow: UnitOfWork, full_name: str, name: str, content: bytes, site: tuple[str, str],
    window: timedelta, now: datetime,
) -> tuple[Commit, bool]:  # fmt: skip
    """`runnerhub admin put-workflow`: store `name` under .github/workflows, creating or
    replacing it, committed by the repository's owner. True: the file is new."""
    owner, _, repo_name = full_name.partition("/")
    repo = scopes.repository(uow, owner, repo_name)
    if repo is None or repo.owner_id is None:
        raise UserError(f"no repository {full_name!r}")
    path = f"{WORKFLOWS_DIR}/{name}"
    current = workflows.file(uow.conn, repo.subject_id, path)
    login = repo.name.split("/", 1)[0]
    origin = runs.Origin(repo.owner_id, login, site[0], site[1], window)
    change = FileChange(path, f"Put {name}", content, current.blob_sha if current else None,
                        None, origin)  # fmt: skip
    try:
        _, commit, created = put_file(uow, repo, change, now)
    except RunnerhubError as error:
        raise UserError(error.message.replace("Invalid request.\n\n", "")) from None
    return commit, created
