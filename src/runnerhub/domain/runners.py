"""Listing, reading and removing runners within one scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from runnerhub.domain import journal
from runnerhub.domain.events import RunnerRemoved
from runnerhub.domain.liveness import status
from runnerhub.domain.models import Label, Runner
from runnerhub.domain.scopes import Scope
from runnerhub.errors import NotFound, ValidationFailed
from runnerhub.storage import labels, runners
from runnerhub.storage.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class Clock:
    """The moment a request is served and the liveness window it judges runners by."""

    now: datetime
    offline_after: timedelta


@dataclass(frozen=True, slots=True)
class RunnerPage:
    total_count: int
    runners: list[Runner]


def list_runners(
    uow: UnitOfWork, scope: Scope, clock: Clock, *, name: str | None, per_page: int, page: int
) -> RunnerPage:
    conn = uow.conn
    total = runners.count(conn, scope.id, name)
    rows = runners.page(conn, scope.id, name, per_page, (page - 1) * per_page, total)
    return RunnerPage(total, present(rows, clock))


def present(listed: list[runners.ListedRunner], clock: Clock) -> list[Runner]:
    """Runners of a page as the API shows them."""
    return [_runner(row, row_labels, clock) for row, row_labels in listed]


def get_runner(uow: UnitOfWork, scope: Scope, clock: Clock, runner_id: int) -> Runner:
    row = runners.one(uow.conn, scope.id, runner_id)
    if row is None:
        raise NotFound()
    return _runner(row, labels.of_runner(uow.conn, runner_id), clock)


def delete_runner(uow: UnitOfWork, scope: Scope, runner_id: int) -> None:
    row = locked_runner(uow, scope, runner_id)
    if row.busy:
        # GitHub's message, stray closing quote included (seen in several clients' logs).
        raise ValidationFailed(f'Bad request - Runner "{row.name}" is still running a job"')
    remove(uow, scope, row)


def remove(uow: UnitOfWork, scope: Scope, row: runners.RunnerRow) -> None:
    """Delete the runner, and tell its agent once that has committed."""
    runners.delete(uow.conn, scope.id, row.id)
    uow.emit(RunnerRemoved(row.id, row.session_id))
    journal.record(
        uow, "runner.removed", "runner %d %r removed from %s", row.id, row.name, scope.name,
        runner_id=row.id, runner_name=row.name, scope=scope.name,
    )  # fmt: skip


def locked_runner(uow: UnitOfWork, scope: Scope, runner_id: int) -> runners.RunnerRow:
    row = runners.one(uow.conn, scope.id, runner_id, lock=True)
    if row is None:
        raise NotFound()
    return row


def _runner(row: runners.RunnerRow, runner_labels: list[Label], clock: Clock) -> Runner:
    return Runner(
        id=row.id,
        name=row.name,
        os=row.os,
        status=status(row.last_seen_at, clock.now, clock.offline_after),
        busy=bool(row.busy),
        ephemeral=bool(row.ephemeral),
        runner_group_id=row.group_number,
        version=row.version,
        labels=runner_labels,
    )
