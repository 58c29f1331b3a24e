"""The shared rate-limit counts (table `rate_limits`), PostgreSQL only: see
coordination/shared_ratelimit.py for how the instances use them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy.engine import Connection


class Count(NamedTuple):
    key: str
    resets_at: int  # epoch seconds
    used: int


# Each instance's unflushed counts are added to the current window of their key (a window
# that ended starts over with them); keys with nothing to add are only read. Keys are taken
# in order, so that two instances adding to the same keys never deadlock. A negative count
# (a refund of a spend already added) never takes a window below zero.
_SYNC = """
WITH incoming AS (
    SELECT * FROM unnest(%(keys)s::text[], %(resets)s::bigint[], %(deltas)s::int[])
        AS i(key, resets_at, delta)
), added AS (
    INSERT INTO rate_limits AS r (key, resets_at, used)
    SELECT key, resets_at, GREATEST(delta, 0) FROM incoming WHERE delta <> 0 ORDER BY key
    ON CONFLICT (key) DO UPDATE SET
        resets_at = CASE WHEN r.resets_at <= %(now)s THEN excluded.resets_at
                         ELSE r.resets_at END,
        used = GREATEST(CASE WHEN r.resets_at <= %(now)s THEN 0 ELSE r.used END
                        + (SELECT i.delta FROM incoming i WHERE i.key = excluded.key), 0)
    RETURNING r.key, r.resets_at, r.used
)
SELECT key, resets_at, used FROM added
UNION ALL
SELECT r.key, r.resets_at, r.used FROM rate_limits r JOIN incoming i ON i.key = r.key
WHERE i.delta = 0
"""


def sync(conn: Connection, counts: Sequence[Count], now: int) -> list[Count]:
    """Add `counts` (`used`: what this instance spent since its last sync, for the window it
    believes ends at `resets_at`) and read back the totals of every key given; one
    statement. A key with no row (never spent anywhere) is not in the answer."""
    if not counts:
        return []
    params = {
        "keys": [c.key for c in counts],
        "resets": [c.resets_at for c in counts],
        "deltas": [c.used for c in counts],
        "now": now,
    }
    rows = conn.exec_driver_sql(_SYNC, params).all()
    return [Count(str(k), int(r), int(u)) for k, r, u in rows]


def read(conn: Connection, key: str) -> Count | None:
    found = conn.exec_driver_sql(
        "SELECT resets_at, used FROM rate_limits WHERE key = %(key)s", {"key": key}
    ).first()
    return None if found is None else Count(key, int(found[0]), int(found[1]))


def prune(conn: Connection, before: int) -> int:
    """Forget windows that ended before `before` (epoch seconds)."""
    done = conn.exec_driver_sql(
        "DELETE FROM rate_limits WHERE resets_at < %(before)s", {"before": before}
    )
    return int(done.rowcount)
