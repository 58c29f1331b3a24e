"""Offline runners go away on their own, as on GitHub: after 14 days, ephemeral ones after 1.

Status never depends on this sweep; it only keeps the lists short.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from runnerhub.storage import runners
from runnerhub.storage.unit_of_work import UnitOfWork


def remove_stale_runners(
    uow: UnitOfWork, now: datetime, *, offline: timedelta, ephemeral_offline: timedelta
) -> int:
    return runners.delete_not_seen_since(uow.conn, now - offline, now - ephemeral_offline)
