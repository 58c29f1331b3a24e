"""Several `runnerhub serve` processes on one database behind HAProxy, for tests and benchmarks.

HAProxy is Debian's package (`apt-get install haproxy`; `scripts/test` installs it), run in
the foreground as a child process with a config written to a directory of the caller's:
round robin on a free loopback port, health checks on `/readyz` a few times a second so that
a dead instance leaves the rotation within about a second, a request that could not reach
an instance sent to another, and timeouts longer than any long poll. A statistics listener
on a second port tells which instances HAProxy counts as up. docs/haproxy.cfg is the same
setup written for operators.

    instances = start_instances(postgres_url, workdir, count=2)
    instances.url                # the balancer: what clients and agents are given
    instances.servers[0].url     # one instance, straight
    instances.kill(0)            # kill -9 of one instance
    instances.stop()
"""

from __future__ import annotations

import csv
import io
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from runnerhub.testing import ServerProcess, free_port, spawn_server, wait_until_up

CHECK_MS = 250  # health-check interval; two failures take an instance out


def haproxy() -> str | None:
    """The haproxy program, or None when it is not installed (tests then skip)."""
    found = shutil.which("haproxy")
    if found is None and Path("/usr/sbin/haproxy").exists():
        found = "/usr/sbin/haproxy"
    return found


def config(port: int, stats_port: int, backends: Sequence[str], check_ms: int = CHECK_MS) -> str:
    """HAProxy's configuration: round robin over `backends` (host:port) on `port`."""
    servers = "\n".join(
        f"    server i{n} {address} check" for n, address in enumerate(backends, start=1)
    )
    return f"""global
    maxconn 4000  # 2 descriptors a connection: within a usual ulimit

defaults
    mode http
    option forwardfor
    timeout connect 2s
    # A long poll is held for half the liveness window (30 s by default): the client and
    # server timeouts must outlast it, or HAProxy would cut every held poll.
    timeout client 5m
    timeout server 5m
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 10s
    # A request that finds its instance gone goes to another one.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    # A dead instance refuses the check's connection at once: out after two checks. A busy
    # one may be slow to answer /readyz: it has 3 s (a 250 ms check timeout took all three
    # instances of a loaded test out of the rotation at once, answering 503).
    timeout check 3s
    default-server inter {check_ms} fastinter {check_ms} downinter {check_ms} fall 2 rise 2

frontend runnerhub
    bind 127.0.0.1:{port}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /
"""


@dataclass
class Balancer:
    url: str
    stats_url: str
    process: subprocess.Popen[bytes]
    directory: Path

    def states(self) -> dict[str, str]:
        """HAProxy's view of each instance: server name (i1, i2, ...) -> UP, DOWN, ..."""
        answer = httpx.get(f"{self.stats_url}/;csv", timeout=5)
        answer.raise_for_status()
        rows = csv.DictReader(io.StringIO(answer.text.lstrip("# ")))
        return {
            row["svname"]: row["status"].split()[0]
            for row in rows
            if row["pxname"] == "instances" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_for(self, ok: Callable[[dict[str, str]], bool], timeout: float = 30) -> float:
        """Until `ok(states)` holds; returns how long that took."""
        started = time.monotonic()
        while True:
            states = self.states()
            if ok(states):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(f"HAProxy's instances stayed {states}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: HAProxy's hard stop, held polls end at once
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_balancer(
    backends: Sequence[str], directory: Path, *, port: int | None = None, check_ms: int = CHECK_MS
) -> Balancer:
    """HAProxy in the foreground, round robin over `backends` (host:port), once every
    backend is up in its health checks."""
    program = haproxy()
    if program is None:
        raise RuntimeError("haproxy is not installed (apt-get install haproxy)")
    directory.mkdir(parents=True, exist_ok=True)
    port, stats_port = port or free_port(), free_port()
    path = directory / "haproxy.cfg"
    path.write_text(config(port, stats_port, backends, check_ms))
    check = subprocess.run([program, "-c", "-q", "-f", str(path)], capture_output=True, text=True)  # noqa: S603 (Debian's haproxy, our config)
    if check.returncode != 0:
        raise RuntimeError(f"haproxy refused its config: {check.stdout}{check.stderr}")
    with (directory / "haproxy.log").open("wb") as out:
        process = subprocess.Popen([program, "-db", "-f", str(path)], stdout=out, stderr=out)  # noqa: S603 (as above)
    url, stats_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{stats_port}"
    balancer = Balancer(url, stats_url, process, directory)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited: {(directory / 'haproxy.log').read_text()}")
        try:
            balancer.wait_for(lambda s: len(s) == len(backends) and set(s.values()) == {"UP"}, 0)
            return balancer
        except (httpx.TransportError, AssertionError):
            if time.monotonic() > deadline:
                balancer.stop()
                raise
            time.sleep(0.05)


@dataclass
class Instances:
    """`count` runnerhub servers on one database and the balancer in front of them."""

    servers: list[ServerProcess]
    balancer: Balancer
    killed: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return self.balancer.url

    def kill(self, index: int) -> None:
        """kill -9 of one instance: no goodbye, its connections reset."""
        self.servers[index].process.send_signal(signal.SIGKILL)
        self.servers[index].process.wait()
        self.killed.add(index)

    def stop(self) -> None:
        self.balancer.stop()
        for server in self.servers:
            server.stop()


def start_instances(
    database_url: str, workdir: Path, count: int = 2, *, check_ms: int = CHECK_MS, **settings: str
) -> Instances:
    """`count` `runnerhub serve` processes on `database_url`, started at the same moment (as
    an orchestrator would: each applies pending migrations, one at a time under PostgreSQL's
    advisory lock), each telling clients the balancer's URL; then HAProxy in front of them.
    `settings` as for `start_server`."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    extra: dict[str, Any] = {
        "public_url": url,
        "trusted_proxies": "127.0.0.1",
        # Longer than HAProxy keeps an idle connection to an instance, so that HAProxy, not
        # the instance, closes it: never a request sent on a connection being closed.
        "keep_alive_timeout_seconds": "75",
        **settings,
    }
    servers = [spawn_server(database_url, workdir, **extra) for _ in range(count)]
    try:
        for server in servers:
            wait_until_up(server, timeout=60)
        backends = [server.url.removeprefix("http://") for server in servers]
        balancer = start_balancer(backends, workdir / "haproxy", port=port, check_ms=check_ms)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return Instances(servers, balancer)
