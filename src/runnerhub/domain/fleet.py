"""The whole fleet at a glance, for operators (/metrics, /readyz): runners by scope kind,
status and busy; unfinished jobs and how long the oldest has waited; webhook deliveries by
outcome; the schema's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from runnerhub.storage import fleet, migrate
from runnerhub.storage.fleet import JobCount, RunnerCount
from runnerhub.storage.unit_of_work import UnitOfWork

__all__ = ["Fleet", "JobCount", "RunnerCount", "Schema", "schema", "snapshot"]


@dataclass(frozen=True, slots=True)
class Fleet:
    runners: list[RunnerCount]
    jobs: list[JobCount]
    now: datetime
    deliveries: dict[str, int] = field(default_factory=dict)  # by state


def snapshot(uow: UnitOfWork, now: datetime, offline_after: timedelta) -> Fleet:
    """Counted as the runner list counts: online while the session polled in the window."""
    return Fleet(
        fleet.runner_counts(uow.conn, now - offline_after), fleet.unfinished_jobs(uow.conn), now,
        fleet.deliveries(uow.conn),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Schema:
    revision: str | None
    head: str | None

    @property
    def current(self) -> bool:
        return self.revision == self.head


def schema(uow: UnitOfWork) -> Schema:
    return Schema(migrate.revision(uow.conn), migrate.head())
