"""The webhook worker's process: the deliverer (services/hook_deliverer.py) on a database
connection, an HTTP client and an event loop of its own, started and stopped by the server
(services/webhook_worker.py). Not a command for people: the server runs it.

    python -m runnerhub.delivery_process   (settings in RUNNERHUB_DELIVERER_SETTINGS_JSON)

Each line on stdin is a wake-up carrying the server's clock offset; end of input stops it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta

from runnerhub import clock, log_format
from runnerhub.api import wire_hooks
from runnerhub.hookshot import Hookshot
from runnerhub.services.hook_deliverer import HookDeliverer
from runnerhub.services.webhook_worker import SETTINGS_VARIABLE
from runnerhub.settings import Settings
from runnerhub.storage.database import Database


async def deliver(settings: Settings) -> None:
    # A few connections: one per hook being sent to at once, recorded a batch at a time.
    db = Database(settings.resolved_database_url(), pool_size=3)
    hookshot = Hookshot(settings.webhook_networks)
    public = settings.public_url.rstrip("/")
    deliverer = HookDeliverer(settings, db, hookshot.send, wire_hooks.render(public, public))
    loop = asyncio.get_running_loop()
    wakes = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(wakes), sys.stdin)
    await hookshot.start()
    await deliverer.start()
    try:
        while line := await wakes.readline():
            clock.follow(timedelta(seconds=float(line)))
            deliverer.wake()
    finally:
        await deliverer.stop()
        await hookshot.stop()
        db.dispose()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the server stops us
    settings = Settings.model_validate_json(os.environ[SETTINGS_VARIABLE])
    log_format.configure(settings.log_format, access_log=False)
    asyncio.run(deliver(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
