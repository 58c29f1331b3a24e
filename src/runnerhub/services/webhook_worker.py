"""The webhook deliverer in a process of its own (runnerhub/delivery_process.py), supervised
by the server.

In the server's process the deliverer shares one event loop and one GIL with requests: under
a full read load it got a turn a few dozen times a second (21 deliveries/s, bench.webhooks),
and on SQLite its own transactions ran on that loop. In a child process it has a core of its
own and requests never wait for it.

The server wakes it through the child's stdin, one line per wake (several wakes in one turn
of the loop are one line): the line is the server's clock offset, which the child follows
(tests move the server's clock; retries it made due must go). End of input is the child's
cue to stop, so it never outlives the server. A child that dies is started again after a
second; what it had leased is sent again once its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from runnerhub import clock
from runnerhub.domain.events import HookDeliveryQueued
from runnerhub.services import call_on
from runnerhub.settings import Settings

log = logging.getLogger(__name__)

SETTINGS_VARIABLE = "RUNNERHUB_DELIVERER_SETTINGS_JSON"
COMMAND = (sys.executable, "-m", "runnerhub.delivery_process")
RESTART_SECONDS = 1.0
STOP_SECONDS = 10.0


class WebhookWorker:
    def __init__(self, settings: Settings, command: Sequence[str] = COMMAND) -> None:
        self.settings, self.command = settings, list(command)
        self.enabled = settings.webhook_delivery
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._poked = False

    # -- the seam: commits that queued a delivery wake the deliverer

    def committed(self, events: Sequence[object]) -> None:
        if any(isinstance(e, HookDeliveryQueued) for e in events):
            self.wake()

    def wake(self) -> None:
        if self._loop is not None:
            call_on(self._loop, self._poke)

    def _poke(self) -> None:
        if not self._poked and self._loop is not None:
            self._poked = True
            self._loop.call_soon(self._send)  # the wakes of this turn of the loop: one line

    def _send(self) -> None:
        self._poked = False
        process = self._process
        if process is None or process.stdin is None or process.stdin.is_closing():
            return
        process.stdin.write(f"{clock.offset().total_seconds()}\n".encode())

    # -- Service

    async def start(self) -> None:
        if not self.enabled:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._task = asyncio.create_task(self._supervise(), name="webhook worker")

    async def stop(self) -> None:
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()  # the child's cue to finish and exit
            try:
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task, self._loop, self._process = None, None, None

    async def _supervise(self) -> None:
        env = {**os.environ, SETTINGS_VARIABLE: self.settings.model_dump_json()}
        while not self._stopping:
            self._process = await asyncio.create_subprocess_exec(
                *self.command, stdin=asyncio.subprocess.PIPE, env=env
            )
            self._poke()  # whatever is pending already
            code = await self._process.wait()
            if self._stopping:
                return
            log.error("the webhook worker exited (%s); starting it again", code)
            await asyncio.sleep(RESTART_SECONDS)
