"""Run the real `runnerhub-agent` in its own directory, as an operator would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runnerhub.agent import files
from runnerhub.agent.client import Client, server_root
from runnerhub.runner_config import RunnerFiles

AGENT = [sys.executable, "-m", "runnerhub.agent.cli"]
ENV = {**os.environ, "RUNNERHUB_AGENT_MAX_BACKOFF": "1"}


def agent(directory: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    directory.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [*AGENT, *args], cwd=directory, env=ENV, capture_output=True, text=True, timeout=timeout
    )


def configure(
    directory: Path, url: str, token: str, *extra: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`runnerhub-agent config --url URL --token TOKEN ...` in `directory`."""
    return agent(directory, "config", "--url", url, "--token", token, *extra, timeout=timeout)


@dataclass
class RunningAgent:
    directory: Path
    process: subprocess.Popen[bytes]
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / "agent.log"

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=20)


def start_agent(directory: Path, *args: str) -> RunningAgent:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "agent.log").open("wb") as out:
        process = subprocess.Popen(
            [*AGENT, "run", *args], cwd=directory, env=ENV, stdout=out, stderr=subprocess.STDOUT
        )
    return RunningAgent(directory, process)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def go_online(directory: Path) -> tuple[RunnerFiles, Client, str, str]:
    """The agent's first steps, by hand, for the runner configured in `directory`: its files,
    a client of its server, an access token (signed with its key) and a new session."""
    local = files.read(directory)
    client = Client(server_root(local.github_url))
    token = client.access_token(local.authorization_url, local.client_id, local.key)
    return local, client, token, client.create_session(local.server_url, token)


def access_token(directory: Path) -> str:
    """A runner access token for the runner configured in `directory`, got as its agent
    would get one (signing with its key)."""
    local = files.read(directory)
    client = Client(server_root(local.github_url))
    try:
        return client.access_token(local.authorization_url, local.client_id, local.key)
    finally:
        client.close()
