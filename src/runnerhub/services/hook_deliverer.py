"""The webhook deliverer: sends the outbox (domain/hook_delivery.py) in the background.

One task per hook with something due drains that hook's deliveries in order; hooks never
wait for each other, so a slow or dead endpoint delays only its own. The deliverer is woken
by every commit that queued a delivery (a subscriber of the unit of work's events) and scans
every `webhook_scan_seconds` besides: for retries come due, and for deliveries another
instance or a crashed process left. Requests never wait for it.

How a payload is rendered (GitHub's shapes, api/wire_hooks.py) and how a request is sent
(httpx, runnerhub/hookshot.py) are given by the app: this layer knows neither HTTP nor wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runnerhub import clock
from runnerhub.domain import hook_delivery
from runnerhub.domain.events import HookDeliveryQueued
from runnerhub.domain.hook_delivery import Attempt, Sent, Taken
from runnerhub.errors import NotFound
from runnerhub.services import call_on
from runnerhub.settings import Settings
from runnerhub.storage.database import Database
from runnerhub.storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

USER_AGENT = "GitHub-Hookshot/runnerhub"
BATCH = 50  # deliveries of one hook leased, rendered and recorded together
PRUNE_EVERY = timedelta(minutes=10)
PRUNE_BATCH = 5000  # deleted in one transaction (SQLite's writers wait for it)


@dataclass(frozen=True, slots=True)
class Outgoing:
    url: str
    body: bytes
    headers: dict[str, str]
    verify_tls: bool
    timeout: float


Send = Callable[[Outgoing], Awaitable[Attempt]]
Render = Callable[[UnitOfWork, Taken], dict[str, Any]]


class HookDeliverer:
    def __init__(self, settings: Settings, db: Database, send: Send, render: Render) -> None:
        self.db, self.send, self.render = db, send, render
        self.enabled = settings.webhook_delivery
        self.scan_seconds = settings.webhook_scan_seconds
        self.timeout = settings.webhook_timeout_seconds
        self.window = timedelta(seconds=settings.webhook_retry_window_seconds)
        self.max_backoff = timedelta(seconds=settings.webhook_max_backoff_seconds)
        self.retention = timedelta(seconds=settings.webhook_delivery_retention_seconds)
        self._pruned_at: datetime | None = None
        self.lease = timedelta(seconds=self.timeout + 20)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._draining: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()

    # -- the seam: commits that queued a delivery wake the deliverer

    def committed(self, events: Sequence[object]) -> None:
        if self._loop is not None and any(isinstance(e, HookDeliveryQueued) for e in events):
            call_on(self._loop, self._wake.set)

    def wake(self) -> None:
        if self._loop is not None:
            self._wake.set()

    # -- Service

    async def start(self) -> None:
        if not self.enabled:
            return
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="webhook deliverer")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._draining.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task, self._loop = None, None
        self._draining.clear()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            wait = self.scan_seconds
            try:
                wait = min(wait, await self.scan())
                await self.prune()
            except Exception:
                log.exception("webhook scan failed")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that comes as the wake does, and stop() then waited for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wait, 0.05)):
                    await self._wake.wait()

    async def scan(self) -> float:
        """Start draining every hook with a delivery due (those not already draining);
        answers how long until the next pending one is due."""
        now = clock.now()

        def look(uow: UnitOfWork) -> tuple[list[int], float | None]:
            return hook_delivery.due_hooks(uow, now), hook_delivery.seconds_to_next(uow, now)

        due, next_in = await self.db.run(look, write=False)
        for hook_id in due:
            if hook_id in self._draining:
                self._again.add(hook_id)
                continue
            task = asyncio.create_task(self._drain(hook_id), name=f"webhook {hook_id}")
            self._draining[hook_id] = task
        # Due ones are being sent: look again after the scan interval, not at once.
        return self.scan_seconds if next_in is None or next_in == 0 else next_in

    async def prune(self) -> int:
        """Delete finished deliveries past the retention period, a bounded batch at a time
        and at most every PRUNE_EVERY (the server's clock): how many went."""
        now = clock.now()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        before = now - self.retention
        count = await self.db.run(lambda uow: hook_delivery.prune(uow, before, PRUNE_BATCH),
                                  write=True)  # fmt: skip
        # A full batch: more are due, go on at the next scan.
        self._pruned_at = None if count == PRUNE_BATCH else now
        if count:
            extra = {"event": "sweep", "sweep": "delivery retention", "count": count}
            log.info("webhook deliveries pruned: %d", count, extra=extra)
        return count

    async def _drain(self, hook_id: int) -> None:
        try:
            while True:
                self._again.discard(hook_id)
                batch = await self.db.run(lambda uow: self._take(uow, hook_id), write=True)
                if not batch:
                    if hook_id not in self._again:
                        return
                    continue
                await self._deliver(batch)
        except Exception:
            log.exception("delivering to webhook %s failed", hook_id)
        finally:
            self._draining.pop(hook_id, None)

    def _take(self, uow: UnitOfWork, hook_id: int) -> list[tuple[Taken, str]]:
        """Up to BATCH deliveries of the hook, leased in one transaction and rendered in it
        (what their payloads name is read once for all: uow.memo), each with its payload's
        JSON text; payloads rendered now are stored before they are sent."""
        batch, rendered = [], []
        leased = hook_delivery.take(uow, hook_id, clock.now(), self.lease, BATCH)
        for taken in leased:
            text = taken.payload
            if text is None:
                try:
                    text = hook_delivery.payload_text(self.render(uow, taken))
                except NotFound:
                    hook_delivery.abandon(uow, taken.id, clock.now())
                    continue
                rendered.append((taken.id, text))
            batch.append((taken, text))
        hook_delivery.keep_payloads(uow, rendered)
        if leased and not batch:
            self._again.add(hook_id)  # all abandoned: the hook's next ones may go at once
        return batch

    async def _deliver(self, batch: list[tuple[Taken, str]]) -> None:
        """Send in order; the first failure ends the batch and frees the rest. What came
        back is recorded for all of them in one transaction."""
        sent: list[Sent] = []
        # Never send past the lease: whatever is left when less than one timeout of it
        # remains goes back to be leased again (by this instance or another).
        until = time.monotonic() + self.lease.total_seconds() - self.timeout - 5
        for taken, text in batch:
            if sent and time.monotonic() > until:
                break
            attempt = await self.send(self._outgoing(taken, text))
            sent.append(Sent(taken, attempt))
            if not attempt.ok:
                break
        unsent = [taken.id for taken, _ in batch[len(sent):]]

        def record(uow: UnitOfWork) -> None:
            hook_delivery.record(uow, sent, clock.now(), window=self.window,
                                 max_backoff=self.max_backoff)  # fmt: skip
            hook_delivery.release(uow, unsent)

        await self.db.run(record, write=True)

    def _outgoing(self, taken: Taken, text: str) -> Outgoing:
        body, media_type = hook_delivery.body_of(text, taken.content_type)
        headers = {
            "Accept": "*/*",
            "Content-Type": media_type,
            "User-Agent": USER_AGENT,
            "X-GitHub-Delivery": taken.guid,
            "X-GitHub-Event": taken.event,
            "X-GitHub-Hook-ID": str(taken.hook_id),
            "X-GitHub-Hook-Installation-Target-ID": str(taken.target_id),
            "X-GitHub-Hook-Installation-Target-Type": taken.target_type,
            **hook_delivery.signatures(taken.secret, body),
        }
        return Outgoing(taken.url, body, headers, taken.verify_tls, self.timeout)
