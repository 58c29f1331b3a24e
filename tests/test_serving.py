"""Serving: slow clients are cut off, proxies are believed only when named, the public URL is
filled in, and the demo script refuses a taken port before it prints a token."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runnerhub.serving import public_url
from runnerhub.storage.database import Database
from tests.agents import access_token, configure
from tests.factories import World
from tests.helpers import ALL_SCOPES, auth
from tests.server import ServerProcess, free_port, start_server

ROOT = Path(__file__).resolve().parents[1]
DRIP = 0.3  # seconds between two bytes of a slow client
HOLD = 3  # seconds a long poll is held on the bounded server, beyond every timeout
EVERYWHERE = "0.0.0.0"  # noqa: S104 (only ever passed to public_url, never bound)


@pytest.fixture(scope="module")
def bounded(db: Database, database_url: str, workdir: Path) -> Iterator[ServerProcess]:
    process = start_server(
        database_url,
        workdir,
        header_timeout_seconds="1",
        body_timeout_seconds="1",
        keep_alive_timeout_seconds="1",
        offline_after_seconds=str(2 * HOLD),
    )
    yield process
    process.stop()


def port_of(server: ServerProcess) -> int:
    return int(server.url.rsplit(":", 1)[1])


async def drip(port: int, head: bytes, give_up: float = 8) -> float:
    """Send `head` at once, then one byte every DRIP seconds; the seconds until the server
    closed the connection (inf if it still held it after `give_up`)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        writer.write(head)
        for _ in range(int(give_up / DRIP)):
            writer.write(b"a")
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1024), DRIP) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                continue
        return float("inf")
    except ConnectionError:
        return time.monotonic() - started
    finally:
        writer.close()


def test_clients_dripping_headers_are_cut_off_while_others_are_served(
    bounded: ServerProcess,
) -> None:
    async def scenario() -> tuple[list[float], float, int]:
        port = port_of(bounded)
        head = b"GET /meta HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        slow = [asyncio.create_task(drip(port, head)) for _ in range(200)]
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient() as client:
            started = time.monotonic()
            response = await client.get(f"{bounded.url}/meta", timeout=5)
            answered = time.monotonic() - started
        return list(await asyncio.gather(*slow)), answered, response.status_code

    closed_after, answered, status = asyncio.run(scenario())
    assert status == 200
    assert answered < 1.5
    assert max(closed_after) < 3, sorted(closed_after)[-5:]


def test_a_body_dripped_past_the_body_timeout_is_cut_off(bounded: ServerProcess) -> None:
    head = (
        b"POST /orgs/nobody/actions/runners/registration-token HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n"
    )
    closed_after = asyncio.run(drip(port_of(bounded), head))
    assert closed_after < 3


def test_the_next_request_and_an_idle_connection_are_bounded_too(bounded: ServerProcess) -> None:
    request = b"GET /meta HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    next_request = b"GET /meta HTTP/1.1\r\nX-Slow: "
    assert asyncio.run(drip(port_of(bounded), request + next_request)) < 3
    with socket.create_connection(("127.0.0.1", port_of(bounded)), timeout=5) as sock:
        sock.sendall(request)
        started = time.monotonic()
        while sock.recv(65536):  # the response, then the close of the idle connection
            pass
        assert time.monotonic() - started < 3


def test_the_long_poll_outlasts_every_timeout(
    bounded: ServerProcess, world: World, tmp_path: Path
) -> None:
    admin = world.user()
    org = world.org(admin)
    registration = httpx.post(
        f"{bounded.url}/orgs/{org}/actions/runners/registration-token",
        headers=auth(world.token(admin, scopes=ALL_SCOPES)),
    ).json()["token"]
    done = configure(tmp_path, f"{bounded.url}/{org}", registration, "--unattended")
    assert done.returncode == 0, done.stderr
    bearer = {"Authorization": f"Bearer {access_token(tmp_path)}"}
    session = httpx.post(f"{bounded.url}/_apis/runner/sessions", headers=bearer).json()
    started = time.monotonic()
    poll = httpx.get(
        f"{bounded.url}/_apis/runner/messages?sessionId={session['sessionId']}",
        headers=bearer,
        timeout=30,
    )
    assert poll.status_code == 202
    assert time.monotonic() - started >= HOLD - 0.5


def _anonymous_budget(server: ServerProcess, forwarded_for: str) -> int:
    response = httpx.get(f"{server.url}/meta", headers={"X-Forwarded-For": forwarded_for})
    return int(response.headers["x-ratelimit-remaining"])


def test_forwarded_headers_are_ignored_unless_the_proxy_is_trusted(
    bounded: ServerProcess, db: Database, database_url: str, workdir: Path
) -> None:
    """Anonymous callers are budgeted by address: a spoofed X-Forwarded-For must not buy a
    fresh budget, while a named proxy's must."""
    first = _anonymous_budget(bounded, "203.0.113.1")
    assert _anonymous_budget(bounded, "203.0.113.2") == first - 1
    proxied = start_server(
        database_url,
        workdir,
        trusted_proxies="127.0.0.0/8, ::1",
        public_url="https://runners.example.com/",
    )
    try:
        first = _anonymous_budget(proxied, "203.0.113.1")
        assert _anonymous_budget(proxied, "203.0.113.2") == first
    finally:
        proxied.stop()
    assert "as https://runners.example.com\n" in proxied.log.read_text()


def test_serve_announces_its_database_and_public_url(bounded: ServerProcess) -> None:
    log = bounded.log.read_text()
    assert "runnerhub: database " in log
    assert f"as {bounded.url}\n" in log


def test_serve_refuses_an_untrusted_proxy_list_it_cannot_read(database_url: str) -> None:
    env = {**os.environ, "RUNNERHUB_DATABASE_URL": database_url}
    env["RUNNERHUB_TRUSTED_PROXIES"] = "10.0.0.0/8,proxy.internal"
    command = [sys.executable, "-m", "runnerhub.cli.main", "serve", "--port", str(free_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "'proxy.internal' is not an IP address or network" in done.stderr


def test_the_public_url_defaults_to_the_served_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert public_url("https://hub.example.com/", EVERYWHERE, 80) == "https://hub.example.com"
    assert public_url("", "127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert public_url("", "::1", 8000) == "http://[::1]:8000"
    assert public_url("", "runners.local", 8000) == "http://runners.local:8000"
    assert capsys.readouterr().err == ""
    assert public_url("", EVERYWHERE, 8000) == "http://127.0.0.1:8000"
    assert public_url("", "::", 8000) == "http://127.0.0.1:8000"
    assert capsys.readouterr().err.count("set RUNNERHUB_PUBLIC_URL") == 2


def test_the_demo_script_refuses_a_taken_port_before_printing_a_token() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PORT": str(port)}
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "serve")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert f"port {port}" in done.stderr
    assert "GITHUB_TOKEN" not in done.stdout + done.stderr
