"""What moving a run on reads of its jobs (domain/run_progress.py): counts by job key,
status and conclusion, and the few jobs those counts say may change. Hand-written SQL, as
the rest of the job path (storage/jobs.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy.engine import Connection

from runnerhub.storage import sql


class KeyCount(NamedTuple):
    job_key: str
    status: str
    conclusion: str | None
    jobs: int


_TALLY = """
    SELECT job_key, status, conclusion, count(*) FROM jobs
    WHERE run_id = :run AND run_attempt = :attempt
    GROUP BY job_key, status, conclusion
"""
_PENDING_PLANS = """
    SELECT job_key, message FROM jobs WHERE id IN (
        SELECT min(id) FROM jobs
        WHERE run_id = :run AND run_attempt = :attempt AND status = 'pending'
        GROUP BY job_key
    )
"""
_OF_KEY = " FROM jobs WHERE run_id = :run AND run_attempt = :attempt AND job_key = :key"
_OF_KEYS = " FROM jobs WHERE run_id = :run AND run_attempt = :attempt AND job_key IN_LIST(:keys)"
_PENDING_IDS = "SELECT id" + _OF_KEY + " AND status = 'pending' ORDER BY id"
_PENDING_MESSAGES = "SELECT id, message" + _OF_KEY + " AND status = 'pending' ORDER BY id"
_QUEUED_IDS = "SELECT id" + _OF_KEY + " AND status = 'queued' ORDER BY id"
_RESULTS = "SELECT job_key, conclusion, outputs" + _OF_KEYS + " ORDER BY id"
_FAILURES = "SELECT job_key, matrix, message" + _OF_KEYS + " AND conclusion = 'failure'"
_UNFINISHED = "SELECT id" + _OF_KEYS + " AND status <> 'completed' ORDER BY id"
_CONCLUDED = """
    SELECT conclusion, message FROM jobs
    WHERE run_id = :run AND run_attempt = :attempt AND conclusion IN_LIST(:conclusions)
"""


def tally(conn: Connection, run_id: int, attempt: int) -> list[KeyCount]:
    """How many of the attempt's jobs there are of each job key, status and conclusion: one
    aggregate over the run's rows (index on run_id), however many jobs it has."""
    rows = sql.fetch_all(conn, _TALLY, run=run_id, attempt=attempt)
    return [KeyCount(key, status, conclusion, int(n)) for key, status, conclusion, n in rows]


def pending_plans(conn: Connection, run_id: int, attempt: int) -> dict[str, str | None]:
    """The message of one pending job of each key with pending jobs (jobs of a key share
    their plan's needs and `if`)."""
    return dict(sql.fetch_all(conn, _PENDING_PLANS, run=run_id, attempt=attempt))


def pending_ids(conn: Connection, run_id: int, attempt: int, key: str) -> list[int]:
    rows = sql.fetch_all(conn, _PENDING_IDS, run=run_id, attempt=attempt, key=key)
    return [int(i) for (i,) in rows]


def pending_messages(
    conn: Connection, run_id: int, attempt: int, key: str
) -> list[tuple[int, str]]:
    rows = sql.fetch_all(conn, _PENDING_MESSAGES, run=run_id, attempt=attempt, key=key)
    return [(int(i), m) for i, m in rows]


def queued_ids(conn: Connection, run_id: int, attempt: int, key: str) -> list[int]:
    rows = sql.fetch_all(conn, _QUEUED_IDS, run=run_id, attempt=attempt, key=key)
    return [int(i) for (i,) in rows]


class Result(NamedTuple):
    job_key: str
    conclusion: str | None
    outputs: str


def results(conn: Connection, run_id: int, attempt: int, keys: Sequence[str]) -> list[Result]:
    """The conclusions and outputs of the jobs of these keys, oldest first."""
    if not keys:
        return []
    rows = sql.fetch_all(conn, _RESULTS, run=run_id, attempt=attempt, keys=list(keys))
    return [Result(*row) for row in rows]


class Failure(NamedTuple):
    job_key: str
    matrix: str | None
    message: str | None


def failures(conn: Connection, run_id: int, attempt: int, keys: Sequence[str]) -> list[Failure]:
    rows = sql.fetch_all(conn, _FAILURES, run=run_id, attempt=attempt, keys=list(keys))
    return [Failure(*row) for row in rows]


def unfinished_ids(conn: Connection, run_id: int, attempt: int, keys: Sequence[str]) -> list[int]:
    if not keys:
        return []
    rows = sql.fetch_all(conn, _UNFINISHED, run=run_id, attempt=attempt, keys=list(keys))
    return [int(i) for (i,) in rows]


def concluded(
    conn: Connection, run_id: int, attempt: int, conclusions: Sequence[str]
) -> list[tuple[str, str | None]]:
    """(conclusion, message) of the attempt's jobs that ended so."""
    rows = sql.fetch_all(
        conn, _CONCLUDED, run=run_id, attempt=attempt, conclusions=list(conclusions)
    )
    return [(c, m) for c, m in rows]
