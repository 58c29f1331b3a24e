"""Jobs, their claims by runners, and their log lines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from runnerhub.storage.dialect import insert_ignoring_conflicts
from runnerhub.storage.tables import job_log_lines, jobs, runner_groups, runners

AnyRow = Any  # rows of these tables: read by column name


def insert_job(conn: Connection, **values: Any) -> int:
    inserted = conn.execute(jobs.insert().values(**values)).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def job(conn: Connection, job_id: int, *, lock: bool = False) -> AnyRow | None:
    query = select(jobs).where(jobs.c.id == job_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def jobs_of_run(conn: Connection, run_id: int, attempt: int | None = None) -> list[AnyRow]:
    query = select(jobs).where(jobs.c.run_id == run_id)
    if attempt is not None:
        query = query.where(jobs.c.run_attempt == attempt)
    return list(conn.execute(query.order_by(jobs.c.id)))


def update_job(conn: Connection, job_id: int, **values: Any) -> None:
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def queued_for_scope(conn: Connection, scope_id: int, limit: int) -> list[AnyRow]:
    """The oldest queued jobs a runner of `scope_id` could take."""
    reach = or_(
        jobs.c.scope_id == scope_id,
        jobs.c.org_scope_id == scope_id,
        jobs.c.enterprise_scope_id == scope_id,
    )
    query = select(jobs).where(jobs.c.status == "queued", reach).order_by(jobs.c.id).limit(limit)
    return list(conn.execute(query))


def idle_runners(conn: Connection, scope_id: int, alive_since: datetime) -> list[AnyRow]:
    """Online runners of the scope that hold no job, oldest first."""
    query = (
        select(
            runners.c.id, runners.c.name, runners.c.session_id, runners.c.ephemeral,
            runner_groups.c.number.label("group_number"), runner_groups.c.name.label("group_name"),
        )
        .join(runner_groups, runner_groups.c.id == runners.c.group_id)
        .where(
            runners.c.scope_id == scope_id,
            runners.c.job_id.is_(None),
            runners.c.session_id.is_not(None),
            runners.c.last_seen_at >= alive_since,
        )
        .order_by(runners.c.id)
    )  # fmt: skip
    return list(conn.execute(query))


def runner_for_claim(conn: Connection, runner_id: int) -> AnyRow | None:
    query = (
        select(
            runners.c.id, runners.c.name, runners.c.scope_id, runners.c.session_id,
            runners.c.job_id, runners.c.last_seen_at, runners.c.ephemeral,
            runner_groups.c.number.label("group_number"), runner_groups.c.name.label("group_name"),
        )
        .join(runner_groups, runner_groups.c.id == runners.c.group_id)
        .where(runners.c.id == runner_id)
    )  # fmt: skip
    return conn.execute(query).first()


def claim(conn: Connection, job_id: int, runner: AnyRow, now: datetime, *, steps: str) -> bool:
    """Give a queued job to an idle runner: both guarded, so that under any concurrency a
    job goes to one runner and a runner takes one job."""
    took_runner = conn.execute(
        update(runners)
        .where(runners.c.id == runner.id, runners.c.job_id.is_(None))
        .values(job_id=job_id)
    )
    if took_runner.rowcount != 1:
        return False
    took_job = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == "queued")
        .values(
            status="in_progress", runner_id=runner.id, runner_name=runner.name,
            runner_group_id=runner.group_number, runner_group_name=runner.group_name,
            started_at=now, acknowledged=False, steps=steps,
        )
    )  # fmt: skip
    if took_job.rowcount != 1:
        release(conn, runner.id, job_id)
        return False
    return True


def release(conn: Connection, runner_id: int, job_id: int) -> None:
    conn.execute(
        update(runners)
        .where(runners.c.id == runner_id, runners.c.job_id == job_id)
        .values(job_id=None)
    )


def held_by(conn: Connection, runner_id: int) -> AnyRow | None:
    """The job the runner holds, if any."""
    query = select(jobs).join(runners, runners.c.job_id == jobs.c.id).where(
        runners.c.id == runner_id
    )
    return conn.execute(query).first()


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


def queued_before(conn: Connection, moment: datetime) -> list[int]:
    query = select(jobs.c.id).where(
        and_(jobs.c.status.in_(("queued", "pending")), jobs.c.created_at < moment)
    )
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


def count_by_status(conn: Connection, run_id: int, attempt: int) -> dict[str, int]:
    query = (
        select(jobs.c.status, func.count())
        .where(jobs.c.run_id == run_id, jobs.c.run_attempt == attempt)
        .group_by(jobs.c.status)
    )
    return {status: int(n) for status, n in conn.execute(query)}


def delete_jobs_of_run(conn: Connection, run_id: int) -> None:
    conn.execute(delete(jobs).where(jobs.c.run_id == run_id))


def count_running(conn: Connection, run_id: int, attempt: int, job_key: str) -> int:
    query = select(func.count()).where(
        jobs.c.run_id == run_id, jobs.c.run_attempt == attempt, jobs.c.job_key == job_key,
        jobs.c.status == "in_progress",
    )  # fmt: skip
    return int(conn.execute(query).scalar_one())


class JobState(NamedTuple):
    id: int
    job_key: str
    status: str
    conclusion: str | None
    outputs: str
    matrix: str | None
    message: str | None  # only while pending


def states(conn: Connection, run_id: int, attempt: int) -> list[JobState]:
    """The run's jobs without their messages, except where deciding needs one (pending)."""
    message = case((jobs.c.status == "pending", jobs.c.message), else_=None).label("message")
    query = select(
        jobs.c.id, jobs.c.job_key, jobs.c.status, jobs.c.conclusion, jobs.c.outputs,
        jobs.c.matrix, message,
    ).where(jobs.c.run_id == run_id, jobs.c.run_attempt == attempt).order_by(jobs.c.id)
    return [JobState(*row) for row in conn.execute(query)]


def messages(conn: Connection, job_ids: Sequence[int]) -> dict[int, str]:
    if not job_ids:
        return {}
    query = select(jobs.c.id, jobs.c.message).where(jobs.c.id.in_(list(job_ids)))
    return {int(i): m for i, m in conn.execute(query)}


def set_status(conn: Connection, job_ids: Sequence[int], status: str) -> None:
    if job_ids:
        conn.execute(update(jobs).where(jobs.c.id.in_(list(job_ids))).values(status=status))


def insert_jobs(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(jobs.insert(), list(rows))
