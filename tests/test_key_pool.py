"""The pool of runner keys made ahead of time for JIT configs."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from runnerhub.app import create_app
from runnerhub.domain.keys import KEY_SIZE, RunnerKey
from runnerhub.services.key_pool import KeyPool
from runnerhub.settings import Settings
from tests.factories import World
from tests.helpers import auth


class CountingMaker:
    """Real keys, counted, with the priority of the thread that made them."""

    def __init__(self) -> None:
        self.made = 0
        self.priorities: set[int] = set()

    def __call__(self) -> RunnerKey:
        self.made += 1
        if sys.platform == "linux":
            self.priorities.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return RunnerKey.generate()


@pytest.fixture
def make() -> CountingMaker:
    return CountingMaker()


@pytest.fixture
def pools() -> Iterator[Callable[..., KeyPool]]:
    started: list[KeyPool] = []

    def start(size: int, make: Callable[[], RunnerKey]) -> KeyPool:
        pool = KeyPool(size, make)
        asyncio.run(pool.start())
        started.append(pool)
        return pool

    yield start
    for pool in started:
        asyncio.run(pool.stop())


def wait_until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_fills_to_its_size_and_stops_there(
    pools: Callable[..., KeyPool], make: CountingMaker
) -> None:
    pool = pools(3, make)
    wait_until(lambda: len(pool) == 3)
    time.sleep(0.2)
    assert make.made == 3


def test_each_key_is_handed_out_once_and_the_pool_refills(
    pools: Callable[..., KeyPool], make: CountingMaker
) -> None:
    pool = pools(2, make)
    wait_until(lambda: len(pool) == 2)
    taken = [pool.take(), pool.take()]
    assert all(key is not None for key in taken)
    assert taken[0] is not taken[1]
    assert taken[0].public_pem() != taken[1].public_pem()  # type: ignore[union-attr]
    wait_until(lambda: len(pool) == 2)
    assert make.made == 4
    assert pool.take() not in taken


def test_keys_are_rsa_2048_like_the_ones_made_per_request(
    pools: Callable[..., KeyPool], make: CountingMaker
) -> None:
    pool = pools(1, make)
    wait_until(lambda: len(pool) == 1)
    key = pool.take()
    assert key is not None
    assert key.private_key.key_size == KEY_SIZE
    assert set(key.rsa_parameters()) >= {"modulus", "exponent", "d", "p", "q"}


def test_an_empty_pool_answers_none_and_warns_once(
    pools: Callable[..., KeyPool], make: CountingMaker, caplog: pytest.LogCaptureFixture
) -> None:
    pool = pools(1, make)
    wait_until(lambda: len(pool) == 1)
    caplog.set_level(logging.INFO, logger="runnerhub")
    asyncio.run(pool.stop())  # nothing refills it now
    assert pool.take() is not None
    assert pool.take() is None
    assert pool.take() is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "runner key pool ran dry: JIT configs now wait for key generation"
    ]


def test_size_zero_turns_the_pool_off(
    pools: Callable[..., KeyPool], make: CountingMaker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="runnerhub")
    pool = pools(0, make)
    assert pool.take() is None
    time.sleep(0.1)
    assert make.made == 0
    assert caplog.records == []  # an absent pool is not a dry one


def test_full_again_after_a_burst_is_logged(
    pools: Callable[..., KeyPool], make: CountingMaker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="runnerhub")
    pool = pools(2, make)
    wait_until(lambda: len(pool) == 2)
    pool.take()
    pool.take()
    wait_until(lambda: len(caplog.records) == 2)
    assert [r.getMessage() for r in caplog.records] == ["runner key pool full: 2 keys"] * 2


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priority is Linux's")
def test_keys_are_made_at_the_lowest_cpu_priority(
    pools: Callable[..., KeyPool], make: CountingMaker
) -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    pool = pools(1, make)
    wait_until(lambda: len(pool) == 1)
    assert make.priorities == {19}
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # this thread, not the process


def test_a_refused_jit_request_puts_its_pooled_key_back(world: World, database_url: str) -> None:
    # In process, without the lifespan, so that no filler thread changes the pool meanwhile.
    app = create_app(Settings(database_url=database_url, runner_key_pool_size=2), world.db)
    pool: KeyPool = app.state.runnerhub.keys
    pool.put_back(RunnerKey.generate())
    admin = world.user()
    org = world.org(admin)
    path = f"/orgs/{org}/actions/runners/generate-jitconfig"
    body = {"name": "pooled", "runner_group_id": 1, "labels": ["x"]}
    outsider = auth(world.token(world.user(), scopes=["admin:org"]))
    owner = auth(world.token(admin, scopes=["admin:org"]))

    async def post(headers: dict[str, str]) -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return (await http.post(path, json=body, headers=headers)).status_code

    assert asyncio.run(post(outsider)) == 403  # refused, rolled back
    assert len(pool) == 1
    assert asyncio.run(post(owner)) == 201
    assert len(pool) == 0
    pool.put_back(RunnerKey.generate())
    assert asyncio.run(post(owner)) == 409  # the name is taken now
    assert len(pool) == 1
