"""Offline runners go away on their own, as on GitHub: after 14 days, ephemeral ones after 1.

Status never depends on this sweep; it only keeps the lists short.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_
from sqlalchemy.engine import Connection

from runnerhub.storage.tables import runners


def remove_stale_runners(
    conn: Connection, now: datetime, *, offline: timedelta, ephemeral_offline: timedelta
) -> int:
    # Never seen: counted from registration. Seen: from the last poll.
    last_alive = func.coalesce(runners.c.last_seen_at, runners.c.created_at)
    stale = or_(
        last_alive < now - offline,
        and_(runners.c.ephemeral.is_(True), last_alive < now - ephemeral_offline),
    )
    result = conn.execute(delete(runners).where(stale))
    return int(result.rowcount)
