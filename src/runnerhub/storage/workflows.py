"""Commits, workflow files and workflows of repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from runnerhub.storage.tables import commits, workflow_files, workflows

AnyRow = Any  # rows of these tables: read by column name


def insert_commit(
    conn: Connection, *, repo_id: int, sha: str, branch: str, message: str, author_id: int | None,
    now: datetime,
) -> None:  # fmt: skip
    conn.execute(
        commits.insert().values(
            repo_id=repo_id, sha=sha, branch=branch, message=message, author_id=author_id,
            created_at=now,
        )
    )  # fmt: skip


def head_commit(conn: Connection, repo_id: int, branch: str) -> AnyRow | None:
    query = (
        select(commits)
        .where(commits.c.repo_id == repo_id, commits.c.branch == branch)
        .order_by(commits.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).first()


def commit_by_sha(conn: Connection, repo_id: int, sha: str) -> AnyRow | None:
    query = select(commits).where(commits.c.repo_id == repo_id, commits.c.sha == sha)
    return conn.execute(query).first()


def commits_by_sha(conn: Connection, repo_id: int, shas: list[str]) -> dict[str, AnyRow]:
    if not shas:
        return {}
    query = select(commits).where(commits.c.repo_id == repo_id, commits.c.sha.in_(shas))
    return {row.sha: row for row in conn.execute(query)}


def file(conn: Connection, repo_id: int, path: str) -> AnyRow | None:
    query = select(workflow_files).where(
        workflow_files.c.repo_id == repo_id, workflow_files.c.path == path
    )
    return conn.execute(query).first()


def files(conn: Connection, repo_id: int) -> list[AnyRow]:
    query = (
        select(workflow_files)
        .where(workflow_files.c.repo_id == repo_id)
        .order_by(workflow_files.c.path)
    )
    return list(conn.execute(query))


def put_file(
    conn: Connection, *, repo_id: int, path: str, content: bytes, blob_sha: str, commit_sha: str,
    now: datetime,
) -> None:  # fmt: skip
    values = {"content": content, "blob_sha": blob_sha, "commit_sha": commit_sha, "updated_at": now}
    changed = conn.execute(
        update(workflow_files)
        .where(workflow_files.c.repo_id == repo_id, workflow_files.c.path == path)
        .values(**values)
    )
    if changed.rowcount == 0:
        conn.execute(workflow_files.insert().values(repo_id=repo_id, path=path, **values))


def delete_file(conn: Connection, repo_id: int, path: str) -> None:
    conn.execute(
        delete(workflow_files).where(
            workflow_files.c.repo_id == repo_id, workflow_files.c.path == path
        )
    )


def workflow_by_path(conn: Connection, repo_id: int, path: str) -> AnyRow | None:
    query = select(workflows).where(workflows.c.repo_id == repo_id, workflows.c.path == path)
    return conn.execute(query).first()


def workflow_by_id(conn: Connection, repo_id: int, workflow_id: int) -> AnyRow | None:
    query = select(workflows).where(workflows.c.repo_id == repo_id, workflows.c.id == workflow_id)
    return conn.execute(query).first()


def workflows_of(conn: Connection, repo_id: int) -> list[AnyRow]:
    query = select(workflows).where(workflows.c.repo_id == repo_id).order_by(workflows.c.id)
    return list(conn.execute(query))


def save_workflow(
    conn: Connection, repo_id: int, path: str, name: str, state: str, now: datetime
) -> int:
    """Create or update the workflow at `path`; its id never changes."""
    found = workflow_by_path(conn, repo_id, path)
    if found is None:
        inserted = conn.execute(
            workflows.insert().values(
                repo_id=repo_id, path=path, name=name, state=state, created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key  # fmt: skip
        assert inserted is not None
        return int(inserted[0])
    conn.execute(
        update(workflows)
        .where(workflows.c.id == found.id)
        .values(name=name, state=state, updated_at=now)
    )
    return int(found.id)


def set_state(conn: Connection, workflow_id: int, state: str, now: datetime) -> None:
    conn.execute(
        update(workflows).where(workflows.c.id == workflow_id).values(state=state, updated_at=now)
    )


def next_run_number(conn: Connection, workflow_id: int) -> int:
    conn.execute(
        update(workflows)
        .where(workflows.c.id == workflow_id)
        .values(run_count=workflows.c.run_count + 1)
    )
    number = conn.execute(
        select(workflows.c.run_count).where(workflows.c.id == workflow_id)
    ).scalar_one()
    return int(number)
