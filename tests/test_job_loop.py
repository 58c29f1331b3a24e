"""The whole loop, end to end: a workflow file PUT through the contents API, its run's job
routed to a real `runnerhub-agent`, run there, its log and result read back over GitHub's
REST API — real server process, real agent processes."""

from __future__ import annotations

import base64
import io
import signal
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runnerhub.storage.database import Database
from tests.agents import RunningAgent, configure, start_agent, wait_for
from tests.contract import validate
from tests.factories import World
from tests.helpers import auth
from tests.server import ServerProcess, start_server

WINDOW = 6  # seconds of liveness: a killed agent's job fails soon after


@pytest.fixture(scope="module")
def live(db: Database, database_url: str, workdir: Path) -> Iterator[ServerProcess]:
    process = start_server(database_url, workdir, offline_after_seconds=str(WINDOW))
    yield process
    process.stop()


class Repo:
    def __init__(self, server: ServerProcess, world: World) -> None:
        self.server = server
        admin = world.user()
        org = world.org(admin)
        self.name = world.repo(org)
        self.org = org
        self.headers = auth(world.token(admin, scopes=("repo", "admin:org")))
        self.api = f"{server.url}/repos/{self.name}"
        self.http = httpx.Client(headers=self.headers, timeout=30)
        self.sha: str | None = None

    def push(self, workflow: str) -> int:
        """Write .github/workflows/ci.yml; answers the id of the run it started."""
        body: dict[str, Any] = {
            "message": "ci",
            "content": base64.b64encode(workflow.encode()).decode(),
        }
        if self.sha:
            body["sha"] = self.sha
        put = self.http.put(f"{self.api}/contents/.github/workflows/ci.yml", json=body)
        assert put.status_code in (200, 201), put.text
        self.sha = put.json()["content"]["sha"]
        commit = put.json()["commit"]["sha"]
        runs = self.http.get(f"{self.api}/actions/runs", params={"head_sha": commit}).json()
        return int(runs["workflow_runs"][0]["id"])

    def run(self, run_id: int) -> dict[str, Any]:
        return dict(self.http.get(f"{self.api}/actions/runs/{run_id}").json())

    def jobs(self, run_id: int) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.api}/actions/runs/{run_id}/jobs").json()["jobs"])

    def log(self, job_id: int) -> str:
        response = self.http.get(f"{self.api}/actions/jobs/{job_id}/logs", follow_redirects=True)
        assert response.status_code == 200
        return response.text

    def wait_done(self, run_id: int, timeout: float = 60) -> dict[str, Any]:
        wait_for(lambda: self.run(run_id)["status"] == "completed", timeout, "the run to end")
        return self.run(run_id)

    def agent(self, directory: Path, *extra: str) -> RunningAgent:
        token = self.http.post(
            f"{self.server.url}/orgs/{self.org}/actions/runners/registration-token"
        ).json()["token"]
        done = configure(
            directory, f"{self.server.url}/{self.org}", token, "--name", directory.name, *extra
        )
        assert done.returncode == 0, done.stderr
        return start_agent(directory)

    def runner(self, name: str) -> dict[str, Any] | None:
        listed = self.http.get(f"{self.server.url}/orgs/{self.org}/actions/runners").json()
        return next((r for r in listed["runners"] if r["name"] == name), None)


@pytest.fixture
def repo(live: ServerProcess, world: World) -> Iterator[Repo]:
    made = Repo(live, world)
    yield made
    made.http.close()


PIPELINE = """\
name: Pipeline
on: push
jobs:
  make:
    runs-on: [self-hosted, linux]
    outputs:
      word: ${{ steps.pick.outputs.word }}
    steps:
      - id: pick
        run: echo "word=hello" >> "$GITHUB_OUTPUT"
      - name: Show the matrix of one
        run: echo "sha is $GITHUB_SHA on $GITHUB_REF_NAME"
  use:
    needs: make
    runs-on: self-hosted
    strategy:
      fail-fast: false
      matrix:
        n: [1, 2, 3]
    steps:
      - run: echo "${{ needs.make.outputs.word }} ${{ matrix.n }}"
      - run: exit 3
        if: matrix.n == 2
      - run: echo "cleanup after ${{ job.status }}"
        if: always()
"""


def test_a_pushed_workflow_runs_on_an_agent_with_outputs_matrix_and_always(
    repo: Repo, tmp_path: Path
) -> None:
    agent = repo.agent(tmp_path / "worker")
    try:
        run_id = repo.push(PIPELINE)
        run = repo.wait_done(run_id)
        assert run["conclusion"] == "failure"  # `use (2)` exits 3
        validate(f"/repos/{repo.name}/actions/runs/{run_id}", "GET", 200, run)
        jobs = {job["name"]: job for job in repo.jobs(run_id)}
        assert set(jobs) == {"make", "use (1)", "use (2)", "use (3)"}
        assert {jobs[n]["conclusion"] for n in ("make", "use (1)", "use (3)")} == {"success"}
        assert jobs["use (2)"]["conclusion"] == "failure"
        assert jobs["make"]["runner_name"] == "worker"
        assert "hello 2" in repo.log(jobs["use (2)"]["id"])
        assert f"sha is {run['head_sha']} on main" in repo.log(jobs["make"]["id"])
        always = repo.log(jobs["use (2)"]["id"])
        assert "cleanup after failure" in always  # the if: always() step ran after it
        steps = [(s["name"], s["conclusion"]) for s in jobs["use (2)"]["steps"]]
        assert steps[0] == ("Set up job", "success")
        assert steps[2] == ("Run exit 3", "failure")
        assert steps[-1][0] == "Complete job"
        logs = repo.http.get(f"{repo.api}/actions/runs/{run_id}/logs", follow_redirects=True)
        names = zipfile.ZipFile(io.BytesIO(logs.content)).namelist()
        assert any(name.startswith("make/") for name in names)
    finally:
        agent.stop()


SLOW = """\
name: Slow
on: push
jobs:
  wait:
    runs-on: self-hosted
    steps:
      - run: echo started; sleep 60
"""


def test_busy_runner_refuses_delete_and_cancel_reaches_it(repo: Repo, tmp_path: Path) -> None:
    agent = repo.agent(tmp_path / "busy")
    try:
        run_id = repo.push(SLOW)
        wait_for(lambda: (repo.runner("busy") or {}).get("busy") is True, 30, "busy")
        runner = repo.runner("busy")
        assert runner is not None
        refused = repo.http.delete(
            f"{repo.server.url}/orgs/{repo.org}/actions/runners/{runner['id']}"
        )
        assert refused.status_code == 422
        wait_for(lambda: "started" in repo.log(repo.jobs(run_id)[0]["id"]), 20, "live log")
        asked = time.monotonic()
        assert repo.http.post(f"{repo.api}/actions/runs/{run_id}/cancel").status_code == 202
        run = repo.wait_done(run_id, timeout=20)
        assert run["conclusion"] == "cancelled"
        assert time.monotonic() - asked < 10
        wait_for(lambda: (repo.runner("busy") or {}).get("busy") is False, 10, "idle again")
    finally:
        agent.stop()


def test_an_ephemeral_runner_takes_one_job_and_leaves(repo: Repo, tmp_path: Path) -> None:
    agent = repo.agent(tmp_path / "once", "--ephemeral")
    run_id = repo.push(
        PIPELINE.replace("[1, 2, 3]", "[1]").replace("if: matrix.n == 2", "if: false")
    )
    assert agent.process.wait(timeout=60) == 0
    assert repo.runner("once") is None
    jobs = repo.jobs(run_id)
    assert [job["runner_name"] for job in jobs if job["status"] == "completed"] == ["once"]
    assert any(job["status"] == "queued" for job in jobs)  # nobody left to take `use`
    repo.http.post(f"{repo.api}/actions/runs/{run_id}/cancel")


def test_a_killed_agent_fails_its_job_after_the_window(repo: Repo, tmp_path: Path) -> None:
    agent = repo.agent(tmp_path / "doomed")
    run_id = repo.push(SLOW)
    wait_for(lambda: (repo.runner("doomed") or {}).get("busy") is True, 30, "busy")
    agent.stop(signal.SIGKILL)
    run = repo.wait_done(run_id, timeout=WINDOW + 20)
    assert run["conclusion"] == "failure"
    job = repo.jobs(run_id)[0]
    assert "lost communication with the server" in repo.log(job["id"])


TIMED = """\
name: Timed
on:
  push:
  workflow_dispatch:
    inputs:
      who:
        required: true
jobs:
  greet:
    runs-on: self-hosted
    timeout-minutes: 0.05
    steps:
      - run: echo "hello ${{ inputs.who }}"
      - run: sleep 30
      - run: echo "reported"
        if: always()
"""


def test_dispatch_with_inputs_and_a_job_timeout(repo: Repo, tmp_path: Path) -> None:
    agent = repo.agent(tmp_path / "clock")
    try:
        first = repo.push(TIMED)
        dispatched = repo.http.post(
            f"{repo.api}/actions/workflows/ci.yml/dispatches",
            json={"ref": "main", "inputs": {"who": "octocat"}},
        )
        assert dispatched.status_code == 204, dispatched.text
        runs = repo.http.get(f"{repo.api}/actions/runs", params={"event": "workflow_dispatch"})
        run_id = runs.json()["workflow_runs"][0]["id"]
        started = time.monotonic()
        run = repo.wait_done(run_id, timeout=40)
        assert time.monotonic() - started < 25  # 3 s allowed, not the step's 30
        assert run["conclusion"] == "failure"
        log = repo.log(repo.jobs(run_id)[0]["id"])
        assert "hello octocat" in log
        assert "reported" in log  # if: always() still runs after the timeout
        repo.wait_done(first, timeout=40)
    finally:
        agent.stop()
