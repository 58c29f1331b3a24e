"""Several server instances on one PostgreSQL: two real `runnerhub serve` processes on the
session's database, no balancer. A long poll held by one is answered at once by a change
made through the other; rate limits are spent across both; a lost-job sweep round runs on
one instance at a time and ends a job once; the wake-up listener survives its connection
being killed; a wake-up nobody was notified of is still found by the catch-up. Skipped on
SQLite, whose single process keeps all of this in memory."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from runnerhub.agent.errors import AgentError
from runnerhub.storage import notify
from runnerhub.storage import runners as runner_rows
from runnerhub.storage.database import Database
from tests.agents import configure, go_online
from tests.factories import World
from tests.helpers import auth
from tests.server import ServerProcess, start_server

HOLD = 30.0  # a poll is held for half of the 60-second liveness window
BUDGET = 40  # the servers' hourly budget per user, small enough to spend in a test
AT_ONCE = 1.0  # "woken at once": well under a second on loopback


@pytest.fixture(scope="module", autouse=True)
def postgresql_only(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("one SQLite server process: nothing is shared across instances")


def _serve(database_url: str, workdir: Path, **settings: str) -> ServerProcess:
    defaults = {"offline_after_seconds": str(int(2 * HOLD)), "rate_limit_per_hour": str(BUDGET),
                "wake_catch_up_seconds": "600", "rate_limit_sync_seconds": "0.5"}  # fmt: skip
    return start_server(database_url, workdir, **{**defaults, **settings})


@pytest.fixture(scope="module")
def pair(
    postgresql_only: None, database_url: str, workdir: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Instances A and B. Their catch-up is slow (10 minutes): a wake-up within a second
    came by notification."""
    a = _serve(database_url, workdir)
    try:
        b = _serve(database_url, workdir)
    except BaseException:
        a.stop()
        raise
    yield a, b
    b.stop()
    a.stop()


class Poller:
    """A runner's agent side, driven by hand against one instance: its session and its
    pending long poll."""

    def __init__(self, server: ServerProcess, world: World, directory: Path) -> None:
        self.admin = world.user()
        self.org = world.org(self.admin)
        self.token = world.token(self.admin, scopes=["admin:org", "repo"])
        self.headers = auth(self.token)
        token = httpx.post(
            f"{server.url}/orgs/{self.org}/actions/runners/registration-token",
            headers=self.headers,
        ).json()["token"]
        done = configure(directory, f"{server.url}/{self.org}", token, "--name", "w")
        assert done.returncode == 0, done.stderr
        self.local, self.client, self.access, self.session = go_online(directory)
        self.runner_id = self.local.agent_id
        self.pool = ThreadPoolExecutor(1)

    def poll(self) -> Future[tuple[float, dict[str, Any] | None]]:
        """Send a long poll; its future answers how long it was held and its message."""

        def timed() -> tuple[float, dict[str, Any] | None]:
            started = time.monotonic()
            message = None
            with contextlib.suppress(AgentError):  # the runner is gone: the poll ended
                message = self.client.poll(self.local.server_url, self.access, self.session)
            return time.monotonic() - started, message

        future = self.pool.submit(timed)
        time.sleep(0.5)  # let the server take the poll and start holding it
        assert not future.done(), future.result()
        return future

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()


@pytest.fixture
def on_a(
    pair: tuple[ServerProcess, ServerProcess], world: World, tmp_path: Path
) -> Iterator[Poller]:
    made = Poller(pair[0], world, tmp_path)
    yield made
    made.close()


def _runners_api(server: ServerProcess, poller: Poller) -> str:
    return f"{server.url}/orgs/{poller.org}/actions/runners"


# -- wake-ups across instances


def test_a_delete_through_b_answers_a_poll_held_by_a(
    pair: tuple[ServerProcess, ServerProcess], on_a: Poller
) -> None:
    pending = on_a.poll()
    deleted = httpx.delete(f"{_runners_api(pair[1], on_a)}/{on_a.runner_id}", headers=on_a.headers)
    assert deleted.status_code == 204
    held, _ = pending.result(timeout=HOLD)
    assert held < 0.5 + AT_ONCE


def test_a_label_change_through_b_answers_a_poll_held_by_a(
    pair: tuple[ServerProcess, ServerProcess], on_a: Poller
) -> None:
    pending = on_a.poll()
    added = httpx.post(
        f"{_runners_api(pair[1], on_a)}/{on_a.runner_id}/labels",
        json={"labels": ["woken"]},
        headers=on_a.headers,
    )
    assert added.status_code == 200
    held, _ = pending.result(timeout=HOLD)
    assert held < 0.5 + AT_ONCE


ONE_JOB = """name: ci
on: push
jobs:
  build:
    runs-on: [self-hosted]
    steps:
      - run: echo hi
"""


def _put_workflow(server: ServerProcess, poller: Poller, repo: str, body: str) -> None:
    stored = httpx.put(
        f"{server.url}/repos/{repo}/contents/.github/workflows/ci.yml",
        json={"message": "ci", "content": base64.b64encode(body.encode()).decode()},
        headers=poller.headers,
    )
    assert stored.status_code == 201, stored.text


def test_a_job_queued_then_cancelled_through_b_reaches_the_poll_held_by_a(
    pair: tuple[ServerProcess, ServerProcess], on_a: Poller, world: World
) -> None:
    repo = world.repo(on_a.org, admin=on_a.admin, private=True)
    pending = on_a.poll()
    started = time.monotonic()
    _put_workflow(pair[1], on_a, repo, ONE_JOB)  # a commit: its push run's job is routed now
    _, message = pending.result(timeout=HOLD)
    assert time.monotonic() - started < AT_ONCE
    assert message is not None
    assert message["messageType"] == "RunnerJobRequest"
    job_id = message["body"]["jobId"]
    job = httpx.get(f"{pair[1].url}/repos/{repo}/actions/jobs/{job_id}", headers=on_a.headers)
    assert job.json()["runner_id"] == on_a.runner_id
    # Running it, the agent polls on; cancelling the run through B answers that poll.
    on_a.client.start_job(on_a.local.server_url, on_a.access, job_id)
    pending = on_a.poll()
    run_id = job.json()["run_id"]
    cancel = httpx.post(f"{pair[1].url}/repos/{repo}/actions/runs/{run_id}/cancel",
                        headers=on_a.headers)  # fmt: skip
    assert cancel.status_code == 202
    held, message = pending.result(timeout=HOLD)
    assert held < 0.5 + AT_ONCE
    assert message is not None
    assert message["messageType"] == "JobCancellation"


def test_a_job_queued_by_the_cli_is_handed_to_the_poll_held_by_a(
    pair: tuple[ServerProcess, ServerProcess], on_a: Poller, world: World, database_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    repo = world.repo(on_a.org, admin=on_a.admin, private=True)
    (tmp_path / "ci.yml").write_text(ONE_JOB)
    pending = on_a.poll()
    command = [sys.executable, "-m", "runnerhub.cli.main", "admin", "put-workflow", repo,
               str(tmp_path / "ci.yml")]  # fmt: skip
    env = {**os.environ, "RUNNERHUB_DATABASE_URL": database_url}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    finished = time.monotonic()
    _, message = pending.result(timeout=HOLD)
    assert time.monotonic() - finished < AT_ONCE
    assert message is not None
    assert message["messageType"] == "RunnerJobRequest"


# -- rate limits across instances


def _get_user(server: ServerProcess, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/user", headers=auth(token))


def test_a_budget_spent_through_a_shows_in_b_and_is_refused_there(
    pair: tuple[ServerProcess, ServerProcess], world: World
) -> None:
    a, b = pair
    token = world.token(world.user())
    for _ in range(10):
        assert _get_user(a, token).status_code == 200
    time.sleep(1.5)  # A's counts reach the table at its next sync (every 0.5 s)
    seen = _get_user(b, token)
    assert seen.headers["x-ratelimit-used"] == "11"
    assert seen.headers["x-ratelimit-remaining"] == str(BUDGET - 11)
    reset = seen.headers["x-ratelimit-reset"]
    for _ in range(BUDGET - 11):
        last = _get_user(a, token)
        assert last.status_code == 200
    time.sleep(1.5)  # A's next sync, then B's: each within 0.5 s
    refused = _get_user(b, token)
    assert refused.status_code == 403, refused.text
    assert "API rate limit exceeded" in refused.json()["message"]
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-reset"] == reset  # one window, wherever it is read
    assert _get_user(a, token).status_code == 403


# -- background sweeps


def _job_log(server: ServerProcess, repo: str, job_id: int, token: str) -> str:
    answer = httpx.get(f"{server.url}/repos/{repo}/actions/jobs/{job_id}/logs",
                       headers=auth(token), follow_redirects=True)  # fmt: skip
    return answer.text


def test_a_lost_job_is_failed_once_by_one_instance_at_a_time(
    db: Database, database_url: str, workdir: Path, world: World, tmp_path: Path
) -> None:
    """Both instances sweep lost jobs every second (a 4-second liveness window). While the
    test holds the sweep's lock, neither ends the job; once released, one does, once."""
    window = {"offline_after_seconds": "4", "wake_catch_up_seconds": "600"}
    a = _serve(database_url, workdir, **window)
    b = _serve(database_url, workdir, **window)
    holder = db.engine.connect()
    try:
        poller = Poller(a, world, tmp_path)
        repo = world.repo(poller.org, admin=poller.admin, private=True)
        pending = poller.poll()
        _put_workflow(b, poller, repo, ONE_JOB)
        _, message = pending.result(timeout=10)
        assert message is not None
        job_id = message["body"]["jobId"]
        poller.client.start_job(poller.local.server_url, poller.access, job_id)
        holder.execute(text("SELECT pg_advisory_lock(:space, 2)"), {"space": 0x7377})
        holder.commit()
        time.sleep(4 + 3)  # the runner went quiet past the window; both swept meanwhile
        job_url = f"{a.url}/repos/{repo}/actions/jobs/{job_id}"
        assert httpx.get(job_url, headers=poller.headers).json()["status"] == "in_progress"
        holder.execute(text("SELECT pg_advisory_unlock(:space, 2)"), {"space": 0x7377})
        holder.commit()
        deadline = time.monotonic() + 10
        while httpx.get(job_url, headers=poller.headers).json()["status"] != "completed":
            assert time.monotonic() < deadline, "the job was never failed"
            time.sleep(0.2)
        job = httpx.get(job_url, headers=poller.headers).json()
        assert job["conclusion"] == "failure"
        time.sleep(2)  # further rounds on both: nothing more happens to it
        logs = a.log.read_text() + b.log.read_text()
        assert len(re.findall(rf"job {job_id} completed", logs)) == 1
        assert _job_log(a, repo, job_id, poller.token).count("lost communication") == 1
        poller.close()
    finally:
        holder.close()
        b.stop()
        a.stop()


# -- the listener, and the catch-up


def _backends(db: Database, role: str) -> list[int]:
    """The instances' own connections: `listener` or `sender` (coordination/wakeups.py)."""
    query = text("SELECT pid FROM pg_stat_activity WHERE application_name LIKE :name")
    return list(db.read(lambda c: c.execute(query, {"name": f"runnerhub {role} %"}).scalars()))


def test_the_listener_connects_again_after_its_backend_is_killed(
    pair: tuple[ServerProcess, ServerProcess], on_a: Poller, db: Database
) -> None:
    """Both instances' listening and sending connections are killed; each connects again,
    answers the polls it holds so that they look again, and notifies and hears as before."""
    labels = f"{_runners_api(pair[1], on_a)}/{on_a.runner_id}/labels"
    assert httpx.post(labels, json={"labels": ["a"]}, headers=on_a.headers).status_code == 200
    time.sleep(0.5)  # B's sender connects to send its first notification
    before = _backends(db, "listener")
    assert len(before) >= 2  # one per instance
    senders = _backends(db, "sender")
    assert senders
    pending = on_a.poll()
    for pid in before + senders:
        db.read(lambda c, pid=pid: c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}))
    # Connected again, every poll held is answered once: what was sent meanwhile was unheard.
    held, message = pending.result(timeout=10)
    assert held < 5
    assert message is None
    deadline = time.monotonic() + 10
    while len(set(_backends(db, "listener")) - set(before)) < 2:
        assert time.monotonic() < deadline, "the listeners did not connect again"
        time.sleep(0.1)
    pending = on_a.poll()
    added = httpx.post(labels, json={"labels": ["after-reconnect"]}, headers=on_a.headers)
    assert added.status_code == 200
    held, _ = pending.result(timeout=HOLD)
    # B's sender finds its connection dead only now, and connects again first.
    assert held < 0.5 + 2 * AT_ONCE


def test_a_change_nobody_notified_is_found_by_the_catch_up(
    db: Database, database_url: str, workdir: Path, world: World, tmp_path: Path
) -> None:
    """The test deletes the runner straight in the database: no instance is notified. The
    catch-up (every second here) finds the poll's runner gone long before the hold ends."""
    server = _serve(database_url, workdir, wake_catch_up_seconds="1")
    try:
        poller = Poller(server, world, tmp_path)
        pending = poller.poll()
        scope_id = db.read(
            lambda c: c.execute(
                text("SELECT scope_id FROM runners WHERE id = :i"), {"i": poller.runner_id}
            ).scalar_one()
        )
        db.write(lambda c: runner_rows.delete(c, scope_id, poller.runner_id))
        held, _ = pending.result(timeout=HOLD)
        assert held < 0.5 + 2.5
        poller.close()
    finally:
        server.stop()


# -- job claims across instances


MATRIX = """name: many
on: push
jobs:
  build:
    runs-on: [self-hosted]
    strategy:
      matrix:
        n: [{ns}]
    steps:
      - run: echo hi
"""


def test_jobs_polled_from_both_instances_are_each_claimed_once(
    pair: tuple[ServerProcess, ServerProcess], world: World, tmp_path: Path
) -> None:
    """Eight runners of one organization, half polling A and half B, take a 40-job matrix:
    every job is handed to one runner, once."""
    a, b = pair
    first = Poller(a, world, tmp_path / "0")
    pollers = [first]
    for index in range(1, 8):
        server = (a, b)[index % 2]
        pollers.append(_joining(first, server, tmp_path / str(index)))
    repo = world.repo(first.org, admin=first.admin, private=True)
    taken: list[tuple[int, int]] = []  # (job id, runner id)

    def work(poller: Poller) -> None:
        while len(taken) < 40:
            try:
                message = poller.client.poll(poller.local.server_url, poller.access, poller.session)
            except AgentError:
                return  # its session was closed: the test is over
            if message is None or message["messageType"] != "RunnerJobRequest":
                continue
            job_id = message["body"]["jobId"]
            taken.append((job_id, poller.runner_id))
            poller.client.start_job(poller.local.server_url, poller.access, job_id)
            poller.client.complete_job(
                poller.local.server_url, poller.access, job_id, "success", {}, []
            )

    with ThreadPoolExecutor(len(pollers)) as pool:
        running = [pool.submit(work, p) for p in pollers]
        time.sleep(1)  # every runner polls
        _put_workflow(b, first, repo, MATRIX.format(ns=", ".join(map(str, range(40)))))
        deadline = time.monotonic() + 120
        while len(taken) < 40 and time.monotonic() < deadline:
            time.sleep(0.2)
        for poller in pollers:  # answers the polls still held
            poller.client.delete_session(poller.local.server_url, poller.access, poller.session)
        for future in running:
            future.result(timeout=HOLD)
    jobs = [job for job, _ in taken]
    assert len(jobs) == len(set(jobs)) == 40
    assert len({runner for _, runner in taken}) > 1
    for poller in pollers:
        poller.close()


def _joining(first: Poller, server: ServerProcess, directory: Path) -> Poller:
    """Another runner of `first`'s organization, polling `server`."""
    made = Poller.__new__(Poller)
    made.admin, made.org, made.token, made.headers = (
        first.admin, first.org, first.token, first.headers
    )  # fmt: skip
    token = httpx.post(
        f"{server.url}/orgs/{first.org}/actions/runners/registration-token",
        headers=first.headers,
    ).json()["token"]
    done = configure(directory, f"{server.url}/{first.org}", token, "--name", directory.name)
    assert done.returncode == 0, done.stderr
    made.local, made.client, made.access, made.session = go_online(directory)
    made.runner_id = made.local.agent_id
    made.pool = ThreadPoolExecutor(1)
    return made


# -- the parts, in process


def test_payloads_fit_postgresql_and_name_every_session() -> None:
    from runnerhub.coordination.wakeups import payloads

    sessions = [f"{n:036d}" for n in range(500)]
    sent = payloads("me", sessions)
    assert len(sent) == 3
    assert all(len(p.encode()) <= notify.MAX_PAYLOAD and p.startswith("me ") for p in sent)
    assert [s for p in sent for s in p.split()[1:]] == sessions
    assert payloads("me", []) == []


def _limiters(db: Database) -> tuple[Any, Any]:
    from runnerhub.coordination.shared_ratelimit import SharedRateLimiter

    return SharedRateLimiter(db), SharedRateLimiter(db)


def test_shared_limiters_add_up_and_refuse_past_the_limit(db: Database, world: World) -> None:
    one, two = _limiters(db)
    key, now = f"user:{world.user()}", time.time()
    for _ in range(3):
        assert one.spend(key, 5, now)[1]
    assert two.peek(key, 5, now).used == 0  # first sight read the table: nothing synced yet
    one.sync()
    two.sync()
    assert two.peek(key, 5, now).used == 3  # the next sync brought A's count
    assert two.spend(key, 5, now)[1]
    assert one.spend(key, 5, now)[1]
    one.sync()
    two.sync()
    one.sync()
    budget, allowed = one.spend(key, 5, now)
    assert not allowed
    assert (budget.used, budget.remaining) == (5, 0)
    assert two.peek(key, 5, now).reset == budget.reset  # one window for both


def test_a_refund_after_a_sync_gives_the_unit_back_everywhere(db: Database, world: World) -> None:
    one, two = _limiters(db)
    key, now = f"user:{world.user()}", time.time()
    one.spend(key, 5, now)
    one.spend(key, 5, now)
    one.sync()
    one.refund(key)
    one.sync()
    assert one.peek(key, 5, now).used == 1
    assert two.peek(key, 5, now).used == 1  # first sight: read from the table


def test_a_window_that_ended_starts_over_for_every_instance(db: Database, world: World) -> None:
    one, two = _limiters(db)
    key, now = f"user:{world.user()}", time.time()
    one.spend(key, 5, now)
    one.sync()
    later = now + 3601
    first = two.spend(key, 5, later)[0]
    assert first.used == 1  # the window it read has ended: a new one
    two.sync()
    one.sync()
    again = one.peek(key, 5, later)
    assert again.used == 1
    assert again.reset == first.reset


def test_concurrent_spends_on_two_instances_are_all_counted(db: Database, world: World) -> None:
    one, two = _limiters(db)
    key, now = f"user:{world.user()}", time.time()

    def spend_and_sync(limiter: Any) -> None:
        for round_ in range(20):
            for _ in range(10):
                limiter.spend(key, 100_000, now)
            if round_ % 3 == 0:
                limiter.sync()
        limiter.sync()

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(spend_and_sync, (one, two)))
    one.sync()
    assert one.peek(key, 100_000, now).used == 400
