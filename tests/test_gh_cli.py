"""GitHub's CLI against runnerhub over https, as against GitHub Enterprise Server: `gh api
--paginate`, `gh workflow run`, `gh run list/view/watch/cancel` with GH_HOST=HOST:PORT, and
`gh auth login --hostname HOST` (gh refuses a port there, so that test serves on port 443 of
a loopback address of its own, which needs root).

gh trusts the server's self-signed CA through SSL_CERT_FILE. A real `runnerhub-agent`,
also over https, runs the jobs.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from runnerhub.storage.database import Database
from runnerhub.testing import eventually
from tests.agents import RunningAgent, configure, start_agent
from tests.factories import World
from tests.helpers import auth
from tests.server import ServerProcess, start_server

GH = shutil.which("gh")
pytestmark = pytest.mark.skipif(GH is None, reason="the gh CLI is not installed")

WORKFLOW = """\
name: CI
on:
  workflow_dispatch:
    inputs:
      greeting:
        description: what to say
        default: hi
jobs:
  hello:
    runs-on: [self-hosted, linux]
    steps:
      - name: Greet
        run: echo "greeting is ${{ inputs.greeting }}"
"""

SLOW = """\
name: Slow
on: workflow_dispatch
jobs:
  wait:
    runs-on: self-hosted
    steps:
      - run: echo started; sleep 60
"""


@dataclass
class Site:
    server: ServerProcess
    world: World
    org: str
    token: str
    agent: RunningAgent
    home: Path

    @property
    def host(self) -> str:
        return str(urlsplit(self.server.url).netloc)

    def http(self) -> httpx.Client:
        trust = ssl.create_default_context(cafile=self.server.ca_file)
        return httpx.Client(
            base_url=self.server.url, headers=auth(self.token), verify=trust, timeout=30
        )

    def repo(self) -> str:
        """A fresh repository of the organization, its full name."""
        return self.world.repo(self.org)

    def put_workflow(self, repo: str, name: str, text: str) -> None:
        with self.http() as http:
            answer = http.put(
                f"/repos/{repo}/contents/.github/workflows/{name}",
                json={
                    "message": f"Add {name}",
                    "content": base64.b64encode(text.encode()).decode(),
                },
            )
        assert answer.status_code == 201, answer.text

    def gh(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        """`gh ARGS` as a user with GH_HOST and GH_ENTERPRISE_TOKEN set: its stdout."""
        done = _gh(self.home, self.server, args, {"GH_HOST": self.host}, self.token, stdin)
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout


def _gh(
    home: Path,
    server: ServerProcess,
    args: tuple[str, ...],
    extra: dict[str, str],
    token: str | None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    assert GH is not None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "GH_CONFIG_DIR": str(home / "gh"),
        "SSL_CERT_FILE": str(server.ca_file),
        "GH_NO_UPDATE_NOTIFIER": "1",
        "GH_PROMPT_DISABLED": "1",
        "NO_COLOR": "1",
        **extra,
    }
    if token:
        env["GH_ENTERPRISE_TOKEN"] = token  # GH_TOKEN is github.com's
    return subprocess.run(
        [GH, *args], env=env, input=stdin, capture_output=True, text=True, timeout=90, check=False
    )


@pytest.fixture(scope="module")
def site(
    database_url: str, db: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    server = start_server(database_url, tmp_path_factory.mktemp("gh-server"), tls=True)
    world = World(db)
    admin = world.user()
    org = world.org(admin)
    token = world.token(admin, scopes=("repo", "admin:org", "read:org"))
    agent: RunningAgent | None = None
    try:
        trust = ssl.create_default_context(cafile=server.ca_file)
        registration = httpx.post(
            f"{server.url}/orgs/{org}/actions/runners/registration-token",
            headers=auth(token),
            verify=trust,
            timeout=30,
        ).json()["token"]
        directory = tmp_path_factory.mktemp("gh-runner")
        ca = str(server.ca_file)
        done = configure(
            directory, f"{server.url}/{org}", registration, "--name", "gh-runner", "--ca-file", ca
        )
        assert done.returncode == 0, done.stderr
        agent = start_agent(directory, "--ca-file", ca)
        yield Site(server, world, org, token, agent, tmp_path_factory.mktemp("gh-home"))
    finally:
        if agent is not None:
            agent.stop()
        server.stop()


def test_gh_api_paginates_the_runners_with_gh_host(site: Site) -> None:
    with site.http() as http:
        for name in ("gh-jit-1", "gh-jit-2"):
            made = http.post(
                f"/orgs/{site.org}/actions/runners/generate-jitconfig",
                json={"name": name, "runner_group_id": 1, "labels": ["self-hosted", "jit"]},
            )
            assert made.status_code == 201, made.text
    out = site.gh(
        "api", "--paginate", f"/orgs/{site.org}/actions/runners?per_page=1", "--jq",
        ".runners[].name",
    )  # fmt: skip
    assert sorted(out.split()) == ["gh-jit-1", "gh-jit-2", "gh-runner"]


def _runs(site: Site, repo: str, workflow: str) -> list[dict[str, Any]]:
    out = site.gh(
        "run", "list", "-R", f"{site.host}/{repo}", "--workflow", workflow,
        "--json", "databaseId,status,conclusion,event,workflowName,headBranch",
    )  # fmt: skip
    runs: list[dict[str, Any]] = json.loads(out)
    return runs


def test_gh_workflow_run_then_run_list_view_and_watch(site: Site) -> None:
    repo = site.repo()
    site.put_workflow(repo, "ci.yml", WORKFLOW)
    where = ("-R", f"{site.host}/{repo}")
    site.gh("workflow", "run", "ci.yml", *where, "--ref", "main", "-f", "greeting=bonjour")

    [run] = eventually(lambda: _runs(site, repo, "ci.yml"), bool, 20, "the dispatched run")
    assert run["event"] == "workflow_dispatch"
    assert run["workflowName"] == "CI"
    assert run["headBranch"] == "main"
    run_id = str(run["databaseId"])

    watched = site.gh("run", "watch", run_id, *where, "--exit-status", "-i", "1")
    assert "✓ hello" in watched  # --exit-status: 0 only when the run succeeded
    assert "✓ Greet" in watched
    [done] = _runs(site, repo, "ci.yml")
    assert (done["status"], done["conclusion"]) == ("completed", "success")

    log = site.gh("run", "view", run_id, *where, "--log")
    assert "greeting is bonjour" in log
    assert log.splitlines()[0].startswith("hello\tGreet\t")  # job, step, line

    viewed = json.loads(site.gh("run", "view", run_id, *where, "--json", "jobs,conclusion"))
    [job] = viewed["jobs"]
    assert (job["name"], job["conclusion"]) == ("hello", "success")
    assert [step["name"] for step in job["steps"]][1] == "Greet"
    summary = site.gh("run", "view", run_id, *where)
    assert "✓ hello" in summary

    job_log = site.gh("run", "view", "--job", str(job["databaseId"]), *where, "--log")
    assert "greeting is bonjour" in job_log


def test_gh_run_cancel_stops_a_running_job(site: Site) -> None:
    repo = site.repo()
    site.put_workflow(repo, "slow.yml", SLOW)
    where = ("-R", f"{site.host}/{repo}")
    site.gh("workflow", "run", "slow.yml", *where)  # no --ref: gh asks GraphQL for the default
    [run] = eventually(
        lambda: _runs(site, repo, "slow.yml"),
        lambda runs: bool(runs) and runs[0]["status"] == "in_progress",
        30,
        "the slow run in progress",
    )
    run_id = str(run["databaseId"])
    jobs = json.loads(site.gh("run", "view", run_id, *where, "--json", "jobs"))["jobs"]
    # gh shows a run's log once the run is done; the job's live log is there before.
    eventually(
        lambda: site.gh("api", f"/repos/{repo}/actions/jobs/{jobs[0]['databaseId']}/logs"),
        lambda log: "started" in log,
        30,
        "the running job's first line",
    )

    site.gh("run", "cancel", run_id, *where)
    watched = _gh(
        site.home, site.server, ("run", "watch", run_id, *where, "--exit-status", "-i", "1"),
        {"GH_HOST": site.host}, site.token,
    )  # fmt: skip
    assert watched.returncode != 0  # --exit-status: the run did not succeed
    [cancelled] = _runs(site, repo, "slow.yml")
    assert (cancelled["status"], cancelled["conclusion"]) == ("completed", "cancelled")


def _loopback_443() -> str | None:
    """A loopback address whose port 443 this process can bind, or None (not root)."""
    for _ in range(20):
        address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        with socket.socket() as sock:
            try:
                sock.bind((address, 443))
            except PermissionError:
                return None
            except OSError:
                continue
            return address
    return None


def test_gh_auth_login_with_a_hostname(database_url: str, db: Database, tmp_path: Path) -> None:
    address = _loopback_443()
    if address is None:
        pytest.skip("binding port 443 needs root, and gh refuses a port in --hostname")
    server = start_server(database_url, tmp_path, host=address, port=443, tls=True)
    try:
        assert server.url == f"https://{address}:443"
        world = World(db)
        admin = world.user()
        org = world.org(admin)
        token = world.token(admin, scopes=("repo", "read:org", "admin:org"))
        home = tmp_path / "home"
        login = _gh(home, server, ("auth", "login", "--hostname", address, "--with-token"),
                    {}, None, stdin=token)  # fmt: skip
        assert login.returncode == 0, login.stderr
        hosts = (home / "gh" / "hosts.yml").read_text()
        assert address in hosts
        status = _gh(home, server, ("auth", "status"), {}, None)
        assert f"Logged in to {address} as {admin}" in status.stdout + status.stderr

        # Logged in: no token in the environment, gh finds it in its configuration.
        listed = _gh(home, server, ("api", f"/orgs/{org}/actions/runners"),
                     {"GH_HOST": address}, None)  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == {"total_count": 0, "runners": []}

        wrong = _gh(tmp_path / "other", server, ("auth", "login", "--hostname", address,
                    "--with-token"), {}, None, stdin="ghp_" + "x" * 36)  # fmt: skip
        assert wrong.returncode != 0
    finally:
        server.stop()
