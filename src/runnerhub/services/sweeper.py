"""Background sweeps: runners offline too long are removed; jobs of lost runners fail."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from runnerhub.domain import cleanup, jobs
from runnerhub.settings import Settings
from runnerhub.storage.database import Database
from runnerhub.storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class StaleRunnerSweeper:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.offline = timedelta(seconds=settings.remove_offline_after_seconds)
        self.ephemeral = timedelta(seconds=settings.remove_offline_ephemeral_after_seconds)
        self.interval = settings.cleanup_interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="stale-runner-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sweep(self) -> int:
        now = datetime.now(UTC)
        return await self.db.run(
            lambda uow: cleanup.remove_stale_runners(
                uow, now, offline=self.offline, ephemeral_offline=self.ephemeral
            ),
            write=True,
        )

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a failed sweep is retried next round; serving goes on
                log.exception("removing stale runners failed")
            await asyncio.sleep(self.interval)


class LostJobSweeper:
    """Every few seconds: jobs whose runner went quiet past the liveness window fail with
    GitHub's message, and jobs queued for over a day are cancelled."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.window = timedelta(seconds=settings.offline_after_seconds)
        self.interval = max(1.0, min(5.0, settings.offline_after_seconds / 4))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="lost-job-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sweep(self) -> int:
        now = datetime.now(UTC)

        def work(uow: UnitOfWork) -> int:
            return jobs.fail_lost(uow, now, self.window) + jobs.cancel_stale(uow, now)

        return await self.db.run(work, write=True)

    async def _loop(self) -> None:
        # A server that was down kept agents from reaching it: they get one whole window
        # after it starts before their jobs count as lost.
        await asyncio.sleep(self.window.total_seconds())
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("failing jobs of lost runners failed")
            await asyncio.sleep(self.interval)
