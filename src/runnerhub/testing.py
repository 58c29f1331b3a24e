"""A pytest plugin for testing runner tooling against a real runnerhub, as moto is for AWS.

Installed with runnerhub (entry point `pytest11`), it gives each test a `runnerhub` fixture:
a `runnerhub serve` process on a free loopback port with a fresh SQLite database, able to
seed accounts in one call, start real agents, store workflows, and move its clock::

    def test_my_autoscaler(runnerhub):
        site = runnerhub.seed()  # user, organization, repository, and a token for them
        runnerhub.put_workflow(site.repo, "ci.yml", CI)  # its push run waits for a runner
        with site.api() as api:  # an httpx client with the token
            jobs = api.get(f"/repos/{site.repo}/actions/runs").json()
        ...
        runnerhub.advance_clock(days=15)  # offline runners past GitHub's 14 days are gone

`start_server` is also what runnerhub's own tests start their servers with.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from runnerhub.domain import accounts
from runnerhub.settings import normalize_database_url
from runnerhub.storage.database import Database

T = TypeVar("T")

AGENT = [sys.executable, "-m", "runnerhub.agent.cli"]
SERVER = [sys.executable, "-m", "runnerhub.cli.main", "serve"]
DEFAULT_SCOPES = ("repo", "admin:org", "read:org")
# Small, so that test servers do not spend the CPU the tests need on keys no test takes.
POOL_SIZE = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    ca_file: Path | None = None  # with tls: the CA file clients trust

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(
    database_url: str,
    workdir: Path,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    tls: bool = False,
    **settings: str,
) -> ServerProcess:
    """`runnerhub serve` on `host:port` (a free port by default), its log in `workdir`;
    `settings` are RUNNERHUB_* variables (`offline_after_seconds="10"`). `tls`: https with a
    certificate made under a CA in `workdir`/tls. Returns once it answers."""
    server = spawn_server(database_url, workdir, port=port, host=host, tls=tls, **settings)
    wait_until_up(server)
    return server


def spawn_server(
    database_url: str,
    workdir: Path,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    tls: bool = False,
    **settings: str,
) -> ServerProcess:
    """`start_server` without waiting for it to answer (`wait_until_up`)."""
    port = port or free_port()
    env = {
        **os.environ,
        "RUNNERHUB_DATABASE_URL": database_url,
        "RUNNERHUB_RUNNER_KEY_POOL_SIZE": str(POOL_SIZE),
        # Tests send wrong credentials on purpose, all from 127.0.0.1.
        "RUNNERHUB_FAILED_LOGINS_PER_HOUR": "100000",
    }
    env.update({f"RUNNERHUB_{key.upper()}": value for key, value in settings.items()})
    command = [*SERVER, "--host", host, "--port", str(port)]
    ca_file = None
    if tls:
        command.append("--tls-self-signed")
        env["RUNNERHUB_DATA_DIR"] = str(workdir)
        ca_file = workdir / "tls" / "ca.pem"
    log = workdir / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 (this interpreter, runnerhub's module)
    url = f"{'https' if tls else 'http'}://{host}:{port}"
    return ServerProcess(url, process, log, ca_file)


def wait_until_up(server: ServerProcess, timeout: float = 30) -> None:
    """Until the server answers /healthz; raises (and kills it) if it exits or never does."""
    process, log = server.process, server.log
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"runnerhub exited: {log.read_text()}")
        try:
            httpx.get(server.url + "/healthz", timeout=1, verify=False)  # noqa: S501 (up yet?)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"runnerhub did not start: {log.read_text()}")


@dataclass
class Agent:
    """A `runnerhub-agent run` process in a directory of its own."""

    name: str
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        return (self.directory / "agent.log").read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@dataclass
class Site:
    """What `Runnerhub.seed` made: a user administering an organization and a repository."""

    hub: Runnerhub
    user: str
    org: str
    repo: str  # OWNER/NAME
    token: str

    def api(self) -> httpx.Client:
        """An httpx client for the server, sending the token."""
        return self.hub.client(self.token)


@dataclass
class Runnerhub:
    """A running runnerhub and what a test does with it."""

    server: ServerProcess
    db: Database
    workdir: Path
    agents: list[Agent] = field(default_factory=list)
    advanced: timedelta = timedelta(0)  # how far advance_clock moved the server's clock
    clock_token: str | None = None  # a user's token for the clock hook, made when first needed

    def now(self) -> datetime:
        """The server's clock."""
        return datetime.now(UTC) + self.advanced

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify: ssl.SSLContext | bool = True
        if self.server.ca_file is not None:
            verify = ssl.create_default_context(cafile=self.server.ca_file)
        return httpx.Client(base_url=self.url, headers=headers, verify=verify, timeout=30)

    # -- seeding, straight into the database, as `runnerhub admin` does

    def seed(
        self,
        org: str | None = None,
        repo: str = "widgets",
        user: str | None = None,
        *,
        private: bool = False,
        scopes: Sequence[str] = DEFAULT_SCOPES,
    ) -> Site:
        """A user, an organization they administer, a repository in it, and a classic token
        with `scopes`; names are made unique unless given."""
        user = user or _unique("octocat")
        org = org or _unique("acme")
        full_name = f"{org}/{repo}"

        def work(uow: Any) -> None:
            now = datetime.now(UTC)
            accounts.create_user(uow, user, now)
            accounts.create_org(uow, org, user, now)
            accounts.create_repo(uow, full_name, now, admin=user, private=private)

        self.db.transact(work)
        return Site(self, user, org, full_name, self.token(user, scopes=scopes))

    def token(
        self,
        login: str,
        *,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        expires_in: timedelta | None = None,
    ) -> str:
        """A classic personal access token (`expires_in`: from the server's clock now)."""
        expires_at = self.now() + expires_in if expires_in is not None else None
        request = accounts.TokenRequest(login=login, scopes=tuple(scopes), expires_at=expires_at)
        return self.db.transact(lambda uow: accounts.create_token(uow, request, datetime.now(UTC)))

    # -- workflows and runs, through the API as any client

    def put_workflow(self, site: Site, name: str, text: str) -> None:
        """Store `.github/workflows/NAME` in the site's repository: a commit (push runs)."""
        with site.api() as api:
            path = f"/repos/{site.repo}/contents/.github/workflows/{name}"
            current = api.get(path)
            body = {"message": f"Put {name}", "content": base64.b64encode(text.encode()).decode()}
            if current.status_code == 200:
                body["sha"] = current.json()["sha"]
            stored = api.put(path, json=body)
        stored.raise_for_status()

    def dispatch(
        self, site: Site, workflow: str, inputs: dict[str, str] | None = None, ref: str = "main"
    ) -> None:
        with site.api() as api:
            answer = api.post(
                f"/repos/{site.repo}/actions/workflows/{workflow}/dispatches",
                json={"ref": ref, "inputs": inputs or {}},
            )
        answer.raise_for_status()

    def runs(self, site: Site, **filters: str) -> list[dict[str, Any]]:
        with site.api() as api:
            answer = api.get(f"/repos/{site.repo}/actions/runs", params=filters)
        answer.raise_for_status()
        runs: list[dict[str, Any]] = answer.json()["workflow_runs"]
        return runs

    def wait_for_run(self, site: Site, timeout: float = 60, **filters: str) -> dict[str, Any]:
        """The newest run matching `filters` (`status="completed"`), once there is one."""
        return eventually(lambda: self.runs(site, **filters), bool, timeout, f"a run {filters}")[0]

    # -- agents: the real runner program, registered as an operator would

    def start_agent(
        self,
        site: Site,
        *,
        name: str | None = None,
        labels: Sequence[str] = (),
        scope: str = "org",
        ephemeral: bool = False,
    ) -> Agent:
        """Register an agent at the site's organization (`scope="org"`) or repository
        (`"repo"`) with a registration token, and start it."""
        name = name or _unique("runner")
        where = f"/orgs/{site.org}" if scope == "org" else f"/repos/{site.repo}"
        with site.api() as api:
            answer = api.post(f"{where}/actions/runners/registration-token")
        answer.raise_for_status()
        url = f"{self.url}/{site.org if scope == 'org' else site.repo}"
        args = ["config", "--url", url, "--token", answer.json()["token"], "--name", name]
        if labels:
            args += ["--labels", ",".join(labels)]
        if ephemeral:
            args.append("--ephemeral")
        directory = self.workdir / "agents" / name
        self._agent(directory, *args, *self._ca()).check_returncode()
        return self._run(name, directory)

    def start_jit_agent(self, encoded_jit_config: str, name: str | None = None) -> Agent:
        """Start an agent from a JIT config (`generate-jitconfig`'s `encoded_jit_config`)."""
        name = name or _unique("jit")
        return self._run(name, self.workdir / "agents" / name, "--jitconfig", encoded_jit_config)

    def _ca(self) -> list[str]:
        return ["--ca-file", str(self.server.ca_file)] if self.server.ca_file else []

    def _agent(self, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
        directory.mkdir(parents=True, exist_ok=True)
        return subprocess.run(  # noqa: S603 (this interpreter, the agent's module)
            [*AGENT, *args], cwd=directory, env=_agent_env(), capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip

    def _run(self, name: str, directory: Path, *args: str) -> Agent:
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / "agent.log").open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 (this interpreter, the agent's module)
                [*AGENT, "run", *args, *self._ca()], cwd=directory, env=_agent_env(),
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        agent = Agent(name, directory, process)
        self.agents.append(agent)
        return agent

    # -- time

    def advance_clock(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> datetime:
        """Move the server's clock forward, then run its sweeps at once (stale runners
        removed, lost jobs failed): tokens expire and runners go offline without sleeping.
        Agents keep the real time; an online one is seen online again at its next poll."""
        moved = timedelta(days=days, hours=hours, seconds=seconds)
        with self.client(self._clock_token()) as api:
            answer = api.post("/_runnerhub/testing/clock", json={"seconds": moved.total_seconds()})
        answer.raise_for_status()
        self.advanced += moved
        return datetime.fromisoformat(answer.json()["now"].replace("Z", "+00:00"))

    def _clock_token(self) -> str:
        if self.clock_token is None:
            login = _unique("clock")
            self.db.transact(lambda uow: accounts.create_user(uow, login, datetime.now(UTC)))
            self.clock_token = self.token(login, scopes=())  # never expires
        return self.clock_token

    def stop_agents(self) -> None:
        for agent in self.agents:
            agent.stop()

    def stop(self) -> None:
        self.stop_agents()
        self.server.stop()
        self.db.dispose()


def eventually(get: Callable[[], T], ok: Callable[[T], bool], timeout: float, what: str) -> T:
    """Poll `get` until `ok` holds of its answer; return that answer."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: last {value!r}")
        time.sleep(0.2)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _agent_env() -> dict[str, str]:
    return {**os.environ, "RUNNERHUB_AGENT_MAX_BACKOFF": "1"}


def start(workdir: Path, *, tls: bool = False, **settings: str) -> Runnerhub:
    """A test server on a fresh SQLite database in `workdir` (RUNNERHUB_TESTING on)."""
    url = f"sqlite:///{workdir / 'runnerhub.db'}"
    extra: dict[str, Any] = {"testing": "true", **settings}
    server = start_server(url, workdir, tls=tls, **extra)
    return Runnerhub(server, Database(normalize_database_url(url)), workdir)


@pytest.fixture
def runnerhub(tmp_path: Path) -> Iterator[Runnerhub]:
    """A runnerhub server of the test's own (fresh SQLite), stopped with its agents after."""
    hub = start(tmp_path)
    try:
        yield hub
    finally:
        hub.stop()
