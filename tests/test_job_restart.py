"""A server restart in the middle of a job: the agent keeps its log lines and sends them
once the server is back, each once, in order.

In a module of its own: a server of another module on the same database would keep
sweeping while this one is down, and fail the job whose agent cannot reach it (as another
instance should), which is not what this test is about."""

from __future__ import annotations

import time
from pathlib import Path

from runnerhub.storage.database import Database
from tests.agents import wait_for
from tests.factories import World
from tests.server import start_server
from tests.test_job_loop import WINDOW, Repo

CHATTY = """\
name: Chatty
on: push
jobs:
  talk:
    runs-on: self-hosted
    steps:
      - run: for i in $(seq 1 16); do echo "line $i"; sleep 0.5; done
"""


def test_a_server_restart_mid_job_loses_no_log_line(
    db: Database, database_url: str, workdir: Path, world: World, tmp_path: Path
) -> None:
    server = start_server(database_url, workdir, offline_after_seconds=str(WINDOW))
    port = int(server.url.rsplit(":", 1)[1])
    repo = Repo(server, world)
    agent = repo.agent(tmp_path / "steady")
    try:
        run_id = repo.push(CHATTY)
        job_id = repo.jobs(run_id)[0]["id"]
        wait_for(lambda: "line 3" in repo.log(job_id), 30, "the first lines")
        server.stop()
        time.sleep(2)  # lines go on being written while nobody listens
        server = start_server(database_url, workdir, port=port, offline_after_seconds=str(WINDOW))
        run = repo.wait_done(run_id, timeout=60)
        assert run["conclusion"] == "success", (repo.log(job_id), agent.log.read_text())
        lines = [line.split(" ", 1)[1] for line in repo.log(job_id).splitlines()]
        talk = [line for line in lines if line.startswith("line ")]
        assert talk == [f"line {i}" for i in range(1, 17)]  # each once, in order
    finally:
        agent.stop()
        repo.http.close()
        server.stop()
