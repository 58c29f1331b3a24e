"""The webhook worker: the deliverer in a child process of the server. Killed, it is started
again and what it held is sent once its lease runs out; kept in the server's process, it
delivers all the same; finished deliveries go after the retention period. Real server, real
receiver, SQLite or PostgreSQL."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from runnerhub.domain import hook_delivery
from runnerhub.storage import accounts as account_rows
from runnerhub.storage import hooks as rows
from runnerhub.storage.database import Database
from runnerhub.storage.unit_of_work import UnitOfWork
from tests.agents import wait_for
from tests.factories import World
from tests.receiver import Receiver
from tests.server import ServerProcess, start_server
from tests.test_webhooks import FAST, SECRET, Site, checked, fresh_database


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver().start()
    yield made
    made.stop()


def children(server: ServerProcess) -> list[int]:
    pid = server.process.pid
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in listed]


def worker_of(server: ServerProcess, other_than: int = 0) -> int:
    found: list[int] = []

    def started() -> bool:
        found[:] = [pid for pid in children(server) if pid != other_than]
        return len(found) == 1

    wait_for(started, 20, "the webhook worker")
    return found[0]


def advance(site: Site, seconds: float) -> None:
    answer = site.http.post("/_runnerhub/testing/clock", json={"seconds": seconds})
    assert answer.status_code == 200, answer.text


def leased(own: Database) -> bool:
    query = "SELECT count(*) FROM hook_deliveries WHERE lease_until IS NOT NULL"
    return bool(own.read(lambda conn: conn.execute(text(query)).scalar()))


def test_a_killed_worker_is_started_again_and_sends_what_it_held_once_its_lease_ends(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    url, own = fresh_database(database_url, tmp_path)
    server = start_server(url, tmp_path, testing="true", webhook_timeout_seconds="8", **FAST)
    site = Site(server, World(own))
    receiver.delay = 4  # the worker is still waiting for the answer when it is killed
    try:
        first = worker_of(server)
        made = site.hook(receiver.url, content_type="json", secret=SECRET)
        wait_for(lambda: leased(own), 10, "the ping leased")
        os.kill(first, signal.SIGKILL)
        worker_of(server, other_than=first)
        receiver.delay = 0
        receiver.wait(1, "ping", timeout=10)  # the killed worker's request, answered to no one
        time.sleep(2)  # the new worker has scanned: the lease (28 s) still holds the ping
        assert len(receiver.events("ping")) == 1
        base = f"/repos/{site.repo}/hooks/{made['id']}/deliveries"
        assert site.http.get(base).json()[0]["status_code"] == 0  # no attempt recorded
        advance(site, 60)  # the dead worker's lease runs out
        again = receiver.wait(2, "ping", timeout=20)
        assert again[0].headers["X-GitHub-Delivery"] == again[1].headers["X-GitHub-Delivery"]
        checked(again[1])
        wait_for(lambda: site.http.get(base).json()[0]["status_code"] == 200, 10, "recorded")
        assert len(site.http.get(base).json()) == 1
    finally:
        site.http.close()
        server.stop()


def test_the_deliverer_in_the_servers_own_process(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    url, own = fresh_database(database_url, tmp_path)
    server = start_server(url, tmp_path, webhook_worker="false", **FAST)
    site = Site(server, World(own))
    try:
        site.hook(receiver.url, content_type="json", secret=SECRET)
        checked(receiver.wait(1, "ping")[0])
        assert children(server) == []
    finally:
        site.http.close()
        server.stop()


def test_the_worker_stops_with_the_server(database_url: str, tmp_path: Path) -> None:
    url, _ = fresh_database(database_url, tmp_path)
    server = start_server(url, tmp_path, **FAST)
    worker = worker_of(server)
    server.stop()
    wait_for(lambda: not Path(f"/proc/{worker}").exists()
             or "Z" in Path(f"/proc/{worker}/stat").read_text().split()[2], 15,
             "the worker gone")  # fmt: skip


def test_finished_deliveries_are_deleted_after_the_retention_period(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """As github.com keeps 3 days of deliveries: older finished ones go, newer ones and
    pending ones stay."""
    url, own = fresh_database(database_url, tmp_path)
    server = start_server(url, tmp_path, testing="true", **FAST)
    site = Site(server, World(own))
    try:
        made = site.hook(receiver.url, content_type="json", secret=SECRET)
        base = f"/repos/{site.repo}/hooks/{made['id']}/deliveries"
        receiver.wait(1, "ping")
        wait_for(lambda: site.http.get(base).json()[0]["status_code"] == 200, 10, "recorded")
        advance(site, 2 * 86400)
        assert site.http.post(f"/repos/{site.repo}/hooks/{made['id']}/pings").status_code == 204
        receiver.wait(2, "ping")
        wait_for(lambda: all(d["status_code"] == 200 for d in site.http.get(base).json()), 10,
                 "both recorded")  # fmt: skip
        older, newer = sorted(d["id"] for d in site.http.get(base).json())
        advance(site, 1.5 * 86400)  # the first is 3.5 days old, the second 1.5
        wait_for(lambda: [d["id"] for d in site.http.get(base).json()] == [newer], 15,
                 "the older one deleted")  # fmt: skip
        assert site.http.get(f"{base}/{older}").status_code == 404
    finally:
        site.http.close()
        server.stop()


# -- leasing a batch (in process, on the session's database)


def test_a_batch_is_an_unbroken_run_from_the_first_pending_one(db: Database, world: World) -> None:
    """What another instance holds ends the run: deliveries past it are left free (no two
    instances ever send one hook's deliveries at once), and a held first one gives none."""
    org = world.org(world.user())
    now = datetime.now(UTC)

    def setup(conn: Any) -> list[int]:
        scope = account_rows.organization_scope(conn, org)
        assert scope is not None
        hook = rows.insert_hook(conn, scope_id=scope.id, active=True, events='["ping"]',
                                url="http://127.0.0.1:9/", content_type="json",
                                insecure_ssl="0", created_at=now, updated_at=now)  # fmt: skip
        return [rows.insert_delivery(conn, hook_id=hook, guid=f"g{n}", event="ping",
                                     subject="{}", state="pending", next_attempt_at=now,
                                     created_at=now) for n in range(5)]  # fmt: skip

    ids = db.write(setup)
    hook_id = db.read(lambda conn: rows.delivery_by_id(conn, ids[0]).hook_id)
    held_until = now + timedelta(minutes=5)
    db.write(lambda conn: rows.update_delivery(conn, ids[2], lease_until=held_until))

    def take(uow: UnitOfWork) -> list[int]:
        return [t.id for t in hook_delivery.take(uow, hook_id, now, timedelta(seconds=30), 50)]

    assert db.transact(take) == ids[:2]

    def leases(conn: Any) -> list[bool]:
        return [rows.delivery_by_id(conn, i).lease_until is not None for i in ids]

    assert db.read(leases) == [True, True, True, False, False]
    db.write(lambda conn: rows.release_many(conn, ids[:2]))
    db.write(lambda conn: rows.update_delivery(conn, ids[0], lease_until=held_until))
    assert db.transact(take) == []
    assert db.read(leases) == [True, False, True, False, False]


# -- where deliveries may go


def test_deliveries_reach_only_the_allowed_networks(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """The address connected to is checked, whether the URL names an address or a host."""
    url, own = fresh_database(database_url, tmp_path)
    server = start_server(url, tmp_path, webhook_allowed_networks="10.0.0.0/8, fd00::/8",
                          webhook_retry_window_seconds="0", **FAST)  # fmt: skip
    site = Site(server, World(own))
    try:
        for target in (receiver.url, receiver.url.replace("127.0.0.1", "localhost")):
            made = site.hook(target, content_type="json")
            base = f"/repos/{site.repo}/hooks/{made['id']}/deliveries"
            wait_for(lambda base=base: site.http.get(base).json()[0]["status"] != "pending",
                     10, "the attempt")  # fmt: skip
            attempt = site.http.get(base).json()[0]
            assert attempt["status"] == "address not allowed (RUNNERHUB_WEBHOOK_ALLOWED_NETWORKS)"
            assert attempt["status_code"] == 0
        assert receiver.events() == []
    finally:
        site.http.close()
        server.stop()
    server = start_server(url, tmp_path, webhook_allowed_networks="127.0.0.0/8", **FAST)
    site = Site(server, World(own))
    try:
        site.hook(receiver.url, content_type="json", secret=SECRET)
        checked(receiver.wait(1, "ping")[0])
    finally:
        site.http.close()
        server.stop()


def test_a_bad_network_setting_stops_the_server_at_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="webhook_allowed_networks"):
        start_server(f"sqlite:///{tmp_path / 'x.db'}", tmp_path,
                     webhook_allowed_networks="10.0.0.0/33")  # fmt: skip
