"""Jobs, their claims by runners, and their log lines.

The job path (claim, acknowledge, complete, and moving a run on) is hand-written SQL on the
request's own connection (storage/sql.py): it runs several statements for every job, and
SQLAlchemy's per-statement work cost more than the statements (measured on SQLite: about
190 µs for a guarded UPDATE through Core against 5 µs here). Planning, logs and the sweeps
stay with Core.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from runnerhub.storage import sql
from runnerhub.storage.dialect import for_update, insert_ignoring_conflicts, utc
from runnerhub.storage.tables import job_log_lines, jobs, runners

AnyRow = Any  # rows of these tables: read by column name


class JobRow(NamedTuple):
    """A whole row of `jobs` (tables.py), timestamps aware and flags bool."""

    id: int
    scope_id: int
    org_scope_id: int | None
    enterprise_scope_id: int | None
    run_id: int | None
    run_attempt: int
    job_key: str
    name: str
    matrix: str | None
    labels: str
    runner_group: str | None
    runner_id: int | None
    runner_name: str | None
    runner_group_id: int | None
    runner_group_name: str | None
    status: str
    conclusion: str | None
    acknowledged: bool
    cancel_requested: bool
    cancel_delivered: bool
    steps: str
    outputs: str
    message: str | None
    log_bytes: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    environment_id: int | None
    waiting_since: datetime | None
    wait_until: datetime | None
    review_needed: bool
    queued_at: datetime | None


# Column names from the code, never from a request.
_JOB = "SELECT " + ", ".join(JobRow._fields) + " FROM jobs"  # noqa: S608


def _job_row(values: Sequence[Any]) -> JobRow:
    row = JobRow(*values)
    created_at = utc(row.created_at)
    assert created_at is not None
    return row._replace(
        acknowledged=bool(row.acknowledged), cancel_requested=bool(row.cancel_requested),
        cancel_delivered=bool(row.cancel_delivered), created_at=created_at,
        started_at=utc(row.started_at), completed_at=utc(row.completed_at),
        waiting_since=utc(row.waiting_since), wait_until=utc(row.wait_until),
        review_needed=bool(row.review_needed), queued_at=utc(row.queued_at),
    )  # fmt: skip


def insert_job(conn: Connection, **values: Any) -> int:
    inserted = conn.execute(jobs.insert().values(**values)).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def job(conn: Connection, job_id: int, *, lock: bool = False) -> JobRow | None:
    lock_clause = for_update(conn, "jobs") if lock else ""
    found = sql.fetch_one(conn, _JOB + " WHERE id = :id" + lock_clause, id=job_id)
    return None if found is None else _job_row(found)


def jobs_of_run(conn: Connection, run_id: int, attempt: int | None = None) -> list[JobRow]:
    if attempt is None:
        rows = sql.fetch_all(conn, _JOB + " WHERE run_id = :run ORDER BY id", run=run_id)
    else:
        query = _JOB + " WHERE run_id = :run AND run_attempt = :attempt ORDER BY id"
        rows = sql.fetch_all(conn, query, run=run_id, attempt=attempt)
    return [_job_row(values) for values in rows]


def update_job(conn: Connection, job_id: int, **values: Any) -> None:
    sql.execute(conn, _update(tuple(values)), job_id=job_id, **values)


@cache
def _update(columns: tuple[str, ...]) -> str:
    assert set(columns) <= set(JobRow._fields) - {"id"}, columns
    assignments = ", ".join(f"{c} = :{c}" for c in columns)
    return f"UPDATE jobs SET {assignments} WHERE id = :job_id"  # noqa: S608 (names checked)


# -- routing: queued jobs and idle runners


class Candidate(NamedTuple):
    """A queued job as routing sees it (its message and steps are read for a claim only)."""

    id: int
    scope_id: int
    org_scope_id: int | None
    enterprise_scope_id: int | None
    run_id: int | None
    run_attempt: int
    job_key: str
    labels: str
    runner_group: str | None


_CANDIDATE = """
    SELECT id, scope_id, org_scope_id, enterprise_scope_id, run_id, run_attempt, job_key,
           labels, runner_group
    FROM jobs WHERE status = 'queued'
"""
_QUEUED = _CANDIDATE + " AND id IN_LIST(:ids) ORDER BY id"
_QUEUED_FOR_SCOPE = (
    _CANDIDATE
    + """
    AND (scope_id = :scope OR org_scope_id = :scope OR enterprise_scope_id = :scope)
    ORDER BY id LIMIT :limit
"""
)


def queued(conn: Connection, job_ids: Sequence[int]) -> list[Candidate]:
    """Those of the jobs that are queued, oldest first."""
    if not job_ids:
        return []
    return [Candidate(*row) for row in sql.fetch_all(conn, _QUEUED, ids=list(job_ids))]


def queued_for_scope(conn: Connection, scope_id: int, limit: int) -> list[Candidate]:
    """The oldest queued jobs a runner of `scope_id` could take."""
    rows = sql.fetch_all(conn, _QUEUED_FOR_SCOPE, scope=scope_id, limit=limit)
    return [Candidate(*row) for row in rows]


class ClaimDetails(NamedTuple):
    steps: str  # a claim starts the first step
    message: str | None  # whose plan says whether max-parallel holds the job back


def for_claim(conn: Connection, job_id: int) -> ClaimDetails | None:
    found = sql.fetch_one(conn, "SELECT steps, message FROM jobs WHERE id = :id", id=job_id)
    return None if found is None else ClaimDetails(*found)


def count_running(conn: Connection, run_id: int, attempt: int, job_key: str) -> int:
    found = sql.fetch_one(
        conn,
        "SELECT count(*) FROM jobs WHERE run_id = :run AND run_attempt = :attempt"
        " AND job_key = :key AND status = 'in_progress'",
        run=run_id, attempt=attempt, key=job_key,
    )  # fmt: skip
    return int(found[0]) if found else 0


class IdleRunner(NamedTuple):
    id: int
    name: str
    session_id: str | None
    ephemeral: bool
    group_number: int
    group_name: str
    group_id: int  # runner_groups.id
    group_open: bool  # its group serves every repository of its scope (group_access.py)


# The runner's group, as routing needs it: what a claim writes on the job, and whether the
# group serves every repository that could ask (visibility all, public repositories allowed,
# any workflow) so that only other groups need domain/group_access.py.
_GROUP_COLUMNS = """g.number, g.name, g.id,
    g.visibility, g.allows_public_repositories, g.restricted_to_workflows"""
_IDLE = f"""
    SELECT r.id, r.name, r.session_id, r.ephemeral, {_GROUP_COLUMNS}
    FROM runners r JOIN runner_groups g ON g.id = r.group_id
    WHERE r.scope_id = :scope AND r.job_id IS NULL AND r.session_id IS NOT NULL
      AND r.last_seen_at >= :alive_since
    ORDER BY r.id
"""  # noqa: S608 (no input in it)


def _group(
    number: int, name: str, group_id: int, visibility: str, public: Any, restricted: Any
) -> tuple[int, str, int, bool]:
    return number, name, group_id, visibility == "all" and bool(public) and not restricted


def idle_runners(conn: Connection, scope_id: int, alive_since: datetime) -> list[IdleRunner]:
    """Online runners of the scope that hold no job, oldest first."""
    rows = sql.fetch_all(conn, _IDLE, scope=scope_id, alive_since=alive_since)
    return [IdleRunner(i, n, s, bool(e), *_group(*g)) for i, n, s, e, *g in rows]


class ClaimRunner(NamedTuple):
    id: int
    name: str
    scope_id: int
    session_id: str | None
    job_id: int | None
    last_seen_at: datetime | None
    ephemeral: bool
    group_number: int
    group_name: str
    group_id: int
    group_open: bool


_CLAIM_RUNNER = f"""
    SELECT r.id, r.name, r.scope_id, r.session_id, r.job_id, r.last_seen_at, r.ephemeral,
           {_GROUP_COLUMNS}
    FROM runners r JOIN runner_groups g ON g.id = r.group_id
    WHERE r.id = :id
"""  # noqa: S608 (no input in it)


def runner_for_claim(conn: Connection, runner_id: int) -> ClaimRunner | None:
    found = sql.fetch_one(conn, _CLAIM_RUNNER, id=runner_id)
    if found is None:
        return None
    i, n, scope, session, job_id, seen, ephemeral, *g = found
    return ClaimRunner(i, n, scope, session, job_id, utc(seen), bool(ephemeral), *_group(*g))


_TAKE_RUNNER = "UPDATE runners SET job_id = :job WHERE id = :runner AND job_id IS NULL"
_TAKE_JOB = """
    UPDATE jobs SET status = 'in_progress', runner_id = :runner, runner_name = :name,
        runner_group_id = :group_number, runner_group_name = :group_name, started_at = :now,
        acknowledged = :acknowledged, steps = :steps
    WHERE id = :job AND status = 'queued'
"""
_RELEASE = "UPDATE runners SET job_id = NULL WHERE id = :runner AND job_id = :job"


def claim(
    conn: Connection, job_id: int, runner: IdleRunner | ClaimRunner, now: datetime, *,
    steps: str,
) -> bool:  # fmt: skip
    """Give a queued job to an idle runner: both guarded, so that under any concurrency a
    job goes to one runner and a runner takes one job."""
    if sql.execute(conn, _TAKE_RUNNER, job=job_id, runner=runner.id) != 1:
        return False
    took_job = sql.execute(
        conn, _TAKE_JOB, job=job_id, runner=runner.id, name=runner.name,
        group_number=runner.group_number, group_name=runner.group_name, now=now,
        acknowledged=False, steps=steps,
    )  # fmt: skip
    if took_job != 1:
        release(conn, runner.id, job_id)
        return False
    return True


def release(conn: Connection, runner_id: int, job_id: int) -> None:
    sql.execute(conn, _RELEASE, runner=runner_id, job=job_id)


class HeldJob(NamedTuple):
    id: int
    status: str
    acknowledged: bool
    cancel_requested: bool
    cancel_delivered: bool
    message: str | None


_HELD_BY = """
    SELECT j.id, j.status, j.acknowledged, j.cancel_requested, j.cancel_delivered, j.message
    FROM runners r JOIN jobs j ON j.id = r.job_id
    WHERE r.id = :runner
"""


def held_by(conn: Connection, runner_id: int) -> HeldJob | None:
    """The job the runner holds, if any."""
    found = sql.fetch_one(conn, _HELD_BY, runner=runner_id)
    if found is None:
        return None
    id_, status, acknowledged, cancel_requested, cancel_delivered, message = found
    return HeldJob(
        id_, status, bool(acknowledged), bool(cancel_requested), bool(cancel_delivered), message
    )


def lost(conn: Connection, alive_since: datetime) -> list[AnyRow]:
    """Jobs in progress whose runner went quiet past the liveness window, or is gone."""
    query = (
        select(jobs.c.id, jobs.c.runner_id, jobs.c.runner_name)
        .outerjoin(runners, runners.c.id == jobs.c.runner_id)
        .where(
            jobs.c.status == "in_progress",
            or_(
                runners.c.id.is_(None),
                runners.c.last_seen_at.is_(None),
                runners.c.last_seen_at < alive_since,
            ),
        )
    )
    return list(conn.execute(query))


def waiting_done(conn: Connection, now: datetime) -> list[int]:
    """Waiting jobs whose protection rules have passed: wait timer over, review given."""
    query = select(jobs.c.id).where(
        jobs.c.status == "waiting",
        jobs.c.review_needed == False,  # noqa: E712 (SQL, not Python)
        or_(jobs.c.wait_until.is_(None), jobs.c.wait_until <= now),
    )
    return [int(i) for i in conn.execute(query.order_by(jobs.c.id)).scalars()]


def unreviewed_before(conn: Connection, moment: datetime) -> list[int]:
    """Jobs waiting for a review since before `moment`."""
    query = select(jobs.c.id).where(
        jobs.c.status == "waiting",
        jobs.c.review_needed == True,  # noqa: E712 (SQL, not Python)
        jobs.c.waiting_since < moment,
    )
    return [int(i) for i in conn.execute(query).scalars()]


def waiting_of_run(conn: Connection, run_id: int, attempt: int) -> list[JobRow]:
    query = _JOB + " WHERE run_id = :run AND run_attempt = :attempt AND status = 'waiting'"
    rows = sql.fetch_all(conn, query + " ORDER BY id", run=run_id, attempt=attempt)
    return [_job_row(values) for values in rows]


def waiting_in(conn: Connection, environment_id: int) -> list[int]:
    query = select(jobs.c.id).where(
        jobs.c.status == "waiting", jobs.c.environment_id == environment_id
    )
    return [int(i) for i in conn.execute(query).scalars()]


def queued_before(conn: Connection, moment: datetime) -> list[int]:
    """Jobs queued, for a runner to take, since before `moment` (a job that waited for its
    environment counts from the end of its wait). Pending jobs are not among them: they
    wait for jobs that end one way or another, and are decided then."""
    since = func.coalesce(jobs.c.queued_at, jobs.c.created_at)
    query = select(jobs.c.id).where(and_(jobs.c.status == "queued", since < moment))
    return [int(i) for i in conn.execute(query).scalars()]


def append_lines(
    conn: Connection, job_id: int, lines: Sequence[dict[str, Any]], added_bytes: int
) -> None:
    if not lines:
        return
    rows = [{"job_id": job_id, **line} for line in lines]
    conn.execute(insert_ignoring_conflicts(conn, job_log_lines, on=("job_id", "seq")), rows)
    conn.execute(
        update(jobs).where(jobs.c.id == job_id).values(log_bytes=jobs.c.log_bytes + added_bytes)
    )


def known_seqs(conn: Connection, job_id: int, seqs: Iterable[int]) -> set[int]:
    wanted = list(seqs)
    if not wanted:
        return set()
    query = select(job_log_lines.c.seq).where(
        job_log_lines.c.job_id == job_id, job_log_lines.c.seq.in_(wanted)
    )
    return {int(s) for s in conn.execute(query).scalars()}


def log_lines(conn: Connection, job_id: int) -> list[AnyRow]:
    query = (
        select(job_log_lines.c.step, job_log_lines.c.time, job_log_lines.c.text)
        .where(job_log_lines.c.job_id == job_id)
        .order_by(job_log_lines.c.seq)
    )
    return list(conn.execute(query))


def set_status(conn: Connection, job_ids: Sequence[int], status: str) -> None:
    if job_ids:
        query = "UPDATE jobs SET status = :status WHERE id IN_LIST(:ids)"
        sql.execute(conn, query, status=status, ids=list(job_ids))


def delete_jobs_of_run(conn: Connection, run_id: int) -> None:
    conn.execute(delete(jobs).where(jobs.c.run_id == run_id))


def insert_jobs(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(jobs.insert(), list(rows))
