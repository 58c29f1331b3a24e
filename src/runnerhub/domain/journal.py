"""Notable changes in the event log (logger `runnerhub.events`), written once their
transaction has committed: a transaction that rolls back logs nothing, and one run again
after a PostgreSQL conflict logs once. Lines carry the request id of the request that made
the change (log_format.py), and their fields as extras: `event`, then ids and names."""

from __future__ import annotations

import logging

from runnerhub.storage.unit_of_work import UnitOfWork

log = logging.getLogger("runnerhub.events")


def record(uow: UnitOfWork, event: str, message: str, *args: object, **fields: object) -> None:
    """Log `message % args` at INFO, with `event` and `fields`, after `uow` commits."""
    if log.isEnabledFor(logging.INFO):
        extra = {"event": event, **fields}
        uow.after_commit(lambda: log.info(message, *args, extra=extra))
