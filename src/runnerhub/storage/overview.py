"""What the dashboard's pages read: a scope's runners with their groups, its queued and
running jobs, and the places a user belongs to. Each page is a fixed number of queries,
whatever the number of runners or jobs (labels: storage/labels.py, one query per page)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy.engine import Connection

from runnerhub.storage import sql
from runnerhub.storage.dialect import utc


class RunnerLine(NamedTuple):
    id: int
    name: str
    os: str
    version: str | None
    ephemeral: bool
    busy: bool
    last_seen_at: datetime | None
    group_name: str


_RUNNERS = """
    SELECT r.id, r.name, r.os, r.version, r.ephemeral, r.job_id IS NOT NULL, r.last_seen_at,
           g.name
    FROM runners r JOIN runner_groups g ON g.id = r.group_id
    WHERE r.scope_id = :scope ORDER BY r.id LIMIT :limit OFFSET :offset
"""


def runners(conn: Connection, scope_id: int, limit: int, offset: int) -> list[RunnerLine]:
    rows = sql.fetch_all(conn, _RUNNERS, scope=scope_id, limit=limit, offset=offset)
    return [
        RunnerLine(id_, name, os, version, bool(eph), bool(busy), utc(seen), group)
        for id_, name, os, version, eph, busy, seen, group in rows
    ]


class JobLine(NamedTuple):
    id: int
    name: str
    status: str  # queued | in_progress | completed (pending ones are waiting on needs)
    conclusion: str | None
    labels: str  # JSON list
    runner_name: str | None
    repository: str  # owner/name
    run_id: int | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


_JOB_COLUMNS = """
    SELECT j.id, j.name, j.status, j.conclusion, j.labels, j.runner_name,
           a.login || '/' || r.name, j.run_id, j.created_at, j.started_at, j.completed_at
    FROM jobs j
    JOIN repositories r ON r.scope_id = j.scope_id
    JOIN accounts a ON a.id = r.owner_id
"""
# A job belongs to its repository's scope, and may be taken by its organization's and its
# enterprise's runners: all three see it.
_IN_SCOPE = "(j.scope_id = :scope OR j.org_scope_id = :scope OR j.enterprise_scope_id = :scope)"
_ACTIVE = (
    _JOB_COLUMNS
    + " WHERE j.status IN ('queued', 'in_progress') AND "
    + _IN_SCOPE
    + " ORDER BY j.id LIMIT :limit"
)
_ONE = _JOB_COLUMNS + " WHERE j.id = :id AND " + _IN_SCOPE


def _job_line(values: tuple[object, ...]) -> JobLine:
    line = JobLine(*values)  # type: ignore[arg-type]
    created_at = utc(line.created_at)
    assert created_at is not None
    return line._replace(
        created_at=created_at, started_at=utc(line.started_at),
        completed_at=utc(line.completed_at),
    )  # fmt: skip


def active_jobs(conn: Connection, scope_id: int, limit: int) -> list[JobLine]:
    """Queued and running jobs the scope's runners could take or hold, oldest first."""
    return [_job_line(v) for v in sql.fetch_all(conn, _ACTIVE, scope=scope_id, limit=limit)]


def job(conn: Connection, scope_id: int, job_id: int) -> JobLine | None:
    found = sql.fetch_one(conn, _ONE, scope=scope_id, id=job_id)
    return None if found is None else _job_line(found)


class Place(NamedTuple):
    kind: str  # enterprise | organization | repository
    name: str  # slug, login or owner/name


_PLACES = """
    SELECT 'enterprise', e.slug FROM enterprise_owners o
    JOIN enterprises e ON e.id = o.enterprise_id
    WHERE o.user_id = :user
    UNION ALL
    SELECT 'organization', a.login FROM org_memberships m JOIN accounts a ON a.id = m.org_id
    WHERE m.user_id = :user AND m.role = 'admin'
    UNION ALL
    SELECT 'repository', a.login || '/' || r.name FROM repositories r
    JOIN accounts a ON a.id = r.owner_id
    WHERE r.id IN (SELECT repo_id FROM repo_collaborators WHERE user_id = :user
                   AND permission = 'admin')
       OR r.owner_id = :user
    ORDER BY 1, 2
    LIMIT :limit
"""


def places(conn: Connection, user_id: int, limit: int) -> list[Place]:
    """Enterprises the user owns, organizations and repositories they administer."""
    rows = sql.fetch_all(conn, _PLACES, user=user_id, limit=limit)
    return [Place(kind, name) for kind, name in rows]
