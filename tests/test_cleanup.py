"""Offline runners are removed after 14 days, offline ephemeral ones after 1 day."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from runnerhub.domain.cleanup import remove_stale_runners
from runnerhub.storage.tables import runners
from tests.factories import World


def test_stale_runners_are_removed(world: World) -> None:
    scope = world.scope("org", world.org(world.user()))
    recent, stale, ephemeral_stale, never_seen_old = world.runners(scope, 4)
    now = world.now()
    ages = {
        recent: (now - timedelta(days=13), False),
        stale: (now - timedelta(days=15), False),
        ephemeral_stale: (now - timedelta(days=2), True),
    }
    for rid, (seen, eph) in ages.items():
        change = update(runners).where(runners.c.id == rid).values(last_seen_at=seen, ephemeral=eph)
        world.db.write(lambda c, change=change: c.execute(change))
    world.db.write(lambda c: c.execute(
        update(runners).where(runners.c.id == never_seen_old)
        .values(created_at=now - timedelta(days=20))
    ))  # fmt: skip

    removed = world.db.transact(
        lambda uow: remove_stale_runners(
            uow, now, offline=timedelta(days=14), ephemeral_offline=timedelta(days=1)
        )
    )
    left = world.db.read(
        lambda c: set(
            c.execute(select(runners.c.id).where(runners.c.scope_id == scope.id)).scalars()
        )
    )
    assert left == {recent}
    assert removed >= 3
