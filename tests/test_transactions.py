"""Units of work: one transaction, announcements only after it commits, lost races run
again, and ids never handed out twice — on the real database."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select, text

from runnerhub.storage.database import Database
from runnerhub.storage.tables import labels
from runnerhub.storage.unit_of_work import UnitOfWork
from tests.factories import World, unique
from tests.helpers import auth


@pytest.fixture
def heard(db: Database) -> list[object]:
    events: list[object] = []

    def subscriber(batch: Sequence[object]) -> None:
        events.extend(batch)

    db.subscribers.append(subscriber)
    yield events
    db.subscribers.remove(subscriber)


def test_events_are_announced_after_commit_and_never_after_rollback(
    db: Database, world: World, heard: list[object]
) -> None:
    scope = world.scope("org", world.org(world.user()))
    name = unique("label")
    seen_by_others: list[int] = []

    def subscriber(batch: Sequence[object]) -> None:
        # Another connection already sees what the announcing transaction wrote.
        found = db.read(lambda c: c.execute(select(labels.c.id).where(labels.c.name == name)))
        seen_by_others.extend(found.scalars())

    def work(uow: UnitOfWork, fail: bool) -> None:
        uow.conn.execute(labels.insert().values(scope_id=scope.id, name=name, name_lower=name))
        uow.emit(("made", name))
        uow.after_commit(lambda: heard.append(("after", name)))
        if fail:
            raise RuntimeError("rolled back")

    db.subscribers.append(subscriber)
    try:
        with pytest.raises(RuntimeError):
            db.transact(lambda uow: work(uow, fail=True))
        assert heard == []
        db.transact(lambda uow: work(uow, fail=False))
    finally:
        db.subscribers.remove(subscriber)
    assert heard == [("after", name), ("made", name)]
    assert len(seen_by_others) == 1


def test_a_transaction_that_loses_a_deadlock_runs_again(db: Database, world: World) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite serializes writers: there is no deadlock to lose")
    scope = world.scope("org", world.org(world.user()))
    ids = world.runners(scope, 2)
    both_locked_one = threading.Barrier(2, timeout=10)
    attempts = {"a": 0, "b": 0}

    def crosswise(uow: UnitOfWork, who: str, first: int, second: int) -> None:
        attempts[who] += 1
        lock = "SELECT id FROM runners WHERE id = :id FOR UPDATE"
        uow.conn.execute(text(lock), {"id": first})
        if attempts[who] == 1:
            both_locked_one.wait()
        uow.conn.execute(text(lock), {"id": second})

    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(db.transact, lambda uow: crosswise(uow, "a", ids[0], ids[1]))
        b = pool.submit(db.transact, lambda uow: crosswise(uow, "b", ids[1], ids[0]))
        a.result(timeout=30)
        b.result(timeout=30)
    assert sorted(attempts.values()) == [1, 2]  # PostgreSQL chose one victim; it ran again


def test_concurrent_new_labels_in_opposite_orders_never_fail(
    client: httpx.Client, world: World
) -> None:
    """Many runners of one organization get the same new names, in opposite orders, at
    once: on PostgreSQL that deadlocked some of them into 500s."""
    admin = world.user()
    org = world.org(admin)
    token = world.token(admin, scopes=["admin:org"])
    runners = world.runners(world.scope("org", org), 16)

    def add(runner_id: int, names: list[str]) -> int:
        path = f"/orgs/{org}/actions/runners/{runner_id}/labels"
        with httpx.Client(base_url=client.base_url, timeout=60) as http:
            return http.post(path, json={"labels": names}, headers=auth(token)).status_code

    statuses = []
    for round_ in range(12):
        names = [f"{unique(str(round_))}-{n}" for n in "abcdefghijkl"]
        with ThreadPoolExecutor(16) as pool:
            futures = [
                pool.submit(add, runner_id, names if i % 2 else names[::-1])
                for i, runner_id in enumerate(runners)
            ]
            statuses += [f.result() for f in futures]
    assert statuses == [200] * len(statuses)


def test_runner_ids_are_never_handed_out_twice(client: httpx.Client, world: World) -> None:
    admin = world.user()
    org = world.org(admin)
    headers = auth(world.token(admin, scopes=["admin:org"]))
    base = f"/orgs/{org}/actions/runners"

    def make(name: str) -> int:
        body = {"name": name, "runner_group_id": 1, "labels": ["self-hosted"]}
        response = client.post(f"{base}/generate-jitconfig", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return int(response.json()["runner"]["id"])

    newest = make(unique("first"))
    assert client.delete(f"{base}/{newest}", headers=headers).status_code == 204
    assert make(unique("second")) > newest
