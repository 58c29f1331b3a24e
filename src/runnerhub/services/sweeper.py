"""Background sweeps: runners offline too long are removed; jobs of lost runners fail.

Every server instance runs them. On PostgreSQL a round first takes its sweep's advisory lock
for its transaction (storage/dialect.lock_round); an instance that finds it taken skips the
round, so rounds never overlap and nothing is done twice. Rounds that follow one another
find nothing left of what the one before did: each reads the state afresh, and each job is
locked and checked again before it is ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from runnerhub import clock
from runnerhub.domain import cleanup, environments, jobs
from runnerhub.settings import Settings
from runnerhub.storage.database import Database
from runnerhub.storage.dialect import lock_round
from runnerhub.storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class Periodic:
    """A sweep run every `interval` seconds (after `delay`) until stopped; a failed round is
    logged and the next one runs as planned: serving goes on."""

    name = "sweep"
    swept = "things"  # what sweep() counts, for the log
    number = 0  # the sweep's advisory lock, one per sweep (storage/dialect.lock_round)

    def __init__(self, interval: float, delay: float = 0.0) -> None:
        self.interval, self.delay = interval, delay
        self._task: asyncio.Task[None] | None = None

    async def sweep(self, *, wait: bool = False) -> int:
        """One round, unless another instance is running one (`wait`: until it is done);
        answers how many things it changed."""
        raise NotImplementedError

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        await asyncio.sleep(self.delay)
        while True:
            try:
                count = await self.sweep()
                if count:
                    log.info(
                        "%s: %d %s", self.name, count, self.swept,
                        extra={"event": "sweep", "sweep": self.name, "count": count},
                    )  # fmt: skip
            except Exception:
                log.exception("%s failed", self.name)
            await asyncio.sleep(self.interval)


class StaleRunnerSweeper(Periodic):
    name = "stale-runner sweep"
    swept = "offline runners removed"

    def __init__(self, settings: Settings, db: Database) -> None:
        super().__init__(settings.cleanup_interval_seconds)
        self.db = db
        self.offline = timedelta(seconds=settings.remove_offline_after_seconds)
        self.ephemeral = timedelta(seconds=settings.remove_offline_ephemeral_after_seconds)

    number = 1

    async def sweep(self, *, wait: bool = False) -> int:
        now = clock.now()

        def work(uow: UnitOfWork) -> int:
            if not lock_round(uow.conn, self.number, wait=wait):
                return 0
            return cleanup.remove_stale_runners(
                uow, now, offline=self.offline, ephemeral_offline=self.ephemeral
            )

        return await self.db.run(work, write=True)


class LostJobSweeper(Periodic):
    """Every few seconds: jobs whose runner went quiet past the liveness window fail with
    GitHub's message, jobs queued for over a day are cancelled, and jobs waiting for their
    environment's wait timer go on once it has run out. A server that was down
    kept agents from reaching it: they get one whole window after it starts before their
    jobs count as lost."""

    name = "lost-job sweep"
    swept = "lost, stale or waiting jobs moved"

    def __init__(self, settings: Settings, db: Database) -> None:
        window = settings.offline_after_seconds
        super().__init__(max(1.0, min(5.0, window / 4)), delay=window)
        self.db = db
        self.window = timedelta(seconds=window)

    number = 2

    async def sweep(self, *, wait: bool = False) -> int:
        now = clock.now()

        def work(uow: UnitOfWork) -> int:
            if not lock_round(uow.conn, self.number, wait=wait):
                return 0
            ended = jobs.fail_lost(uow, now, self.window) + jobs.cancel_stale(uow, now)
            return ended + environments.release_due(uow, now)

        return await self.db.run(work, write=True)
