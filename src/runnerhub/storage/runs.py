"""Workflow runs of repositories."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from runnerhub.storage import sql
from runnerhub.storage.tables import accounts, workflow_runs, workflows

AnyRow = Any  # rows of these tables: read by column name

# The columns a run is shown with: its own, its workflow's path, its actor's login.
_RUN = select(
    workflow_runs,
    workflows.c.path.label("workflow_path"),
    accounts.c.login.label("actor_login"),
).select_from(
    workflow_runs.join(workflows, workflows.c.id == workflow_runs.c.workflow_id).outerjoin(
        accounts, accounts.c.id == workflow_runs.c.actor_id
    )
)
FILTERS = ("status", "event", "branch", "actor", "head_sha", "workflow_id")


def insert_run(conn: Connection, **values: Any) -> int:
    inserted = conn.execute(workflow_runs.insert().values(**values)).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def run(conn: Connection, repo_id: int, run_id: int, *, lock: bool = False) -> AnyRow | None:
    query = _RUN.where(workflow_runs.c.repo_id == repo_id, workflow_runs.c.id == run_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=workflow_runs)
    return conn.execute(query).first()


class Progress(NamedTuple):
    run_attempt: int
    status: str


def lock(conn: Connection, run_id: int) -> None:
    """Hold the run's row until commit. Moving a run on reads its jobs' states: two
    completions of its last jobs would each miss the other's and leave it in progress.
    PostgreSQL takes the lock; SQLite's write transactions are serial already.

    NO KEY UPDATE, as an UPDATE of the row takes: it excludes another mover but not the KEY
    SHARE lock that a transaction updating one of the run's jobs twice holds (the foreign
    key's check), which FOR UPDATE would wait for, both ways, in two such transactions."""
    if conn.dialect.name == "postgresql":
        query = "SELECT id FROM workflow_runs WHERE id = :id FOR NO KEY UPDATE"
        sql.fetch_one(conn, query, id=run_id)


_WORKFLOW_REF = """
    SELECT w.path, r.head_branch FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id
    WHERE r.id = :id
"""


def workflow_ref(conn: Connection, run_id: int) -> tuple[str, str] | None:
    """The run's workflow file and the branch it runs on."""
    found = sql.fetch_one(conn, _WORKFLOW_REF, id=run_id)
    return None if found is None else (str(found[0]), str(found[1]))


def origin(conn: Connection, run_id: int) -> AnyRow | None:
    """The run's repository, who started its attempt, and the commit it runs."""
    query = select(
        workflow_runs.c.repo_id, workflow_runs.c.triggering_actor_id, workflow_runs.c.head_sha,
        workflow_runs.c.head_branch,
    ).where(workflow_runs.c.id == run_id)  # fmt: skip
    return conn.execute(query).first()


def progress(conn: Connection, run_id: int) -> Progress | None:
    """What rolling a run's status up reads on every job's completion (hand-written SQL:
    see storage/jobs.py)."""
    query = "SELECT run_attempt, status FROM workflow_runs WHERE id = :id"
    found = sql.fetch_one(conn, query, id=run_id)
    return None if found is None else Progress(*found)


def _filtered(repo_id: int, filters: Mapping[str, Any]) -> Any:
    where = [workflow_runs.c.repo_id == repo_id]
    status = filters.get("status")
    if status in ("success", "failure", "cancelled", "skipped", "timed_out", "neutral"):
        where.append(workflow_runs.c.conclusion == status)
    elif status:
        where.append(workflow_runs.c.status == status)
    if filters.get("event"):
        where.append(workflow_runs.c.event == filters["event"])
    if filters.get("branch"):
        where.append(workflow_runs.c.head_branch == filters["branch"])
    if filters.get("head_sha"):
        where.append(workflow_runs.c.head_sha == filters["head_sha"])
    if filters.get("actor"):
        where.append(func.lower(accounts.c.login) == str(filters["actor"]).lower())
    if filters.get("workflow_id") is not None:
        where.append(workflow_runs.c.workflow_id == filters["workflow_id"])
    return where


def count(conn: Connection, repo_id: int, filters: Mapping[str, Any]) -> int:
    source: Any = workflow_runs
    if filters.get("actor"):  # the join only when the filter needs it: counting is linear
        source = workflow_runs.outerjoin(accounts, accounts.c.id == workflow_runs.c.actor_id)
    query = select(func.count()).select_from(source).where(*_filtered(repo_id, filters))
    return int(conn.execute(query).scalar_one())


def page(
    conn: Connection, repo_id: int, filters: Mapping[str, Any], limit: int, offset: int
) -> list[AnyRow]:
    """Newest first, as GitHub lists runs."""
    query = (
        _RUN.where(*_filtered(repo_id, filters))
        .order_by(workflow_runs.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(query))


def update_run(conn: Connection, run_id: int, **values: Any) -> None:
    conn.execute(update(workflow_runs).where(workflow_runs.c.id == run_id).values(**values))


def delete_run(conn: Connection, run_id: int) -> None:
    conn.execute(delete(workflow_runs).where(workflow_runs.c.id == run_id))


def mark_started(conn: Connection, run_id: int, now: datetime) -> bool:
    """queued -> in_progress, guarded: of concurrent job claims, one moves the run."""
    query = (
        update(workflow_runs)
        .where(workflow_runs.c.id == run_id, workflow_runs.c.status.in_(("queued", "waiting")))
        .values(status="in_progress", updated_at=now)
    )
    return bool(conn.execute(query).rowcount)
