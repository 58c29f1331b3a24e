"""A long poll is answered the moment its runner changes, is removed or its session closes
(announced by the unit of work after commit), not at the end of its 30-second hold."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from runnerhub.agent.errors import AgentError
from runnerhub.storage.database import Database
from tests.agents import configure, go_online, start_agent, wait_for
from tests.factories import World
from tests.helpers import auth
from tests.server import ServerProcess, start_server

HOLD = 30.0  # the server holds a poll for half of the 60-second liveness window


@pytest.fixture(scope="module")
def patient(db: Database, database_url: str, workdir: Path) -> Iterator[ServerProcess]:
    process = start_server(database_url, workdir, offline_after_seconds=str(int(2 * HOLD)))
    yield process
    process.stop()


class Poller:
    """A runner's agent side, driven by hand: one session and its pending long poll."""

    def __init__(self, server: ServerProcess, world: World, directory: Path) -> None:
        admin = world.user()
        self.org = world.org(admin)
        self.headers = auth(world.token(admin, scopes=["admin:org"]))
        self.api = f"{server.url}/orgs/{self.org}/actions/runners"
        token = httpx.post(f"{self.api}/registration-token", headers=self.headers).json()
        done = configure(directory, f"{server.url}/{self.org}", token["token"], "--name", "w")
        assert done.returncode == 0, done.stderr
        self.local, self.client, self.token, self.session = go_online(directory)
        self.pool = ThreadPoolExecutor(1)

    def poll(self) -> Future[float]:
        def timed() -> float:
            started = time.monotonic()
            with contextlib.suppress(AgentError):  # the runner is gone: the poll ended
                self.client.poll(self.local.server_url, self.token, self.session)
            return time.monotonic() - started

        future = self.pool.submit(timed)
        time.sleep(0.5)  # let the server take the poll and start holding it
        return future

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()


@pytest.fixture
def poller(patient: ServerProcess, world: World, tmp_path: Path) -> Iterator[Poller]:
    made = Poller(patient, world, tmp_path)
    yield made
    made.close()


def test_a_label_change_answers_the_pending_poll(poller: Poller) -> None:
    pending = poller.poll()
    added = httpx.post(
        f"{poller.api}/{poller.local.agent_id}/labels",
        json={"labels": ["woken"]},
        headers=poller.headers,
    )
    assert added.status_code == 200
    assert pending.result(timeout=HOLD) < 5


def test_a_refused_change_wakes_nothing(poller: Poller) -> None:
    pending = poller.poll()
    refused = httpx.post(
        f"{poller.api}/{poller.local.agent_id}/labels",
        json={"labels": ["bad,label"]},
        headers=poller.headers,
    )
    assert refused.status_code == 422
    time.sleep(2)
    assert not pending.done()  # rolled back: nothing was announced
    poller.client.delete_session(poller.local.server_url, poller.token, poller.session)
    assert pending.result(timeout=HOLD) < 5  # closing the session answers it


def test_deleting_the_runner_answers_the_pending_poll(poller: Poller) -> None:
    pending = poller.poll()
    deleted = httpx.delete(f"{poller.api}/{poller.local.agent_id}", headers=poller.headers)
    assert deleted.status_code == 204
    assert pending.result(timeout=HOLD) < 5


def test_a_running_agent_leaves_at_once_when_its_runner_is_deleted(
    patient: ServerProcess, world: World, tmp_path: Path
) -> None:
    admin = world.user()
    org = world.org(admin)
    headers = auth(world.token(admin, scopes=["admin:org"]))
    api = f"{patient.url}/orgs/{org}/actions/runners"
    token = httpx.post(f"{api}/registration-token", headers=headers).json()["token"]
    assert configure(tmp_path, f"{patient.url}/{org}", token, "--name", "gone").returncode == 0
    agent = start_agent(tmp_path)
    try:
        listed = lambda: httpx.get(api, headers=headers).json()["runners"]  # noqa: E731
        wait_for(lambda: [r["status"] for r in listed()] == ["online"], 20, "online")
        time.sleep(1)  # the agent's poll is being held now
        runner_id = listed()[0]["id"]
        started = time.monotonic()
        assert httpx.delete(f"{api}/{runner_id}", headers=headers).status_code == 204
        assert agent.process.wait(timeout=HOLD) == 6  # removed on the server
        assert time.monotonic() - started < 10
    finally:
        agent.stop()
