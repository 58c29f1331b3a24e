"""Counts over every scope, for /metrics: runners by kind, liveness and job; jobs by state;
webhook deliveries by state."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from runnerhub.storage.dialect import utc
from runnerhub.storage.tables import hook_deliveries, jobs, runners, scopes


class RunnerCount(NamedTuple):
    kind: str  # enterprise | organization | repository
    online: bool
    busy: bool
    runners: int


class JobCount(NamedTuple):
    status: str  # pending | waiting | queued | in_progress
    jobs: int
    oldest: datetime | None  # the earliest created_at among them


def runner_counts(conn: Connection, online_since: datetime) -> list[RunnerCount]:
    online = and_(runners.c.last_seen_at.is_not(None), runners.c.last_seen_at > online_since)
    busy = runners.c.job_id.is_not(None)
    query = (
        select(scopes.c.kind, online, busy, func.count())
        .select_from(runners.join(scopes, scopes.c.id == runners.c.scope_id))
        .group_by(scopes.c.kind, online, busy)
    )
    return [RunnerCount(k, bool(o), bool(b), int(n)) for k, o, b, n in conn.execute(query)]


def unfinished_jobs(conn: Connection) -> list[JobCount]:
    query = (
        select(jobs.c.status, func.count(), func.min(jobs.c.created_at))
        .where(jobs.c.status != "completed")
        .group_by(jobs.c.status)
    )
    return [JobCount(s, int(n), utc(oldest)) for s, n, oldest in conn.execute(query)]


def deliveries(conn: Connection) -> dict[str, int]:
    """Webhook deliveries kept, by state: pending (to be sent or retried), delivered,
    failed (past the retry window)."""
    query = select(hook_deliveries.c.state, func.count()).group_by(hook_deliveries.c.state)
    return {str(state): int(n) for state, n in conn.execute(query)}
