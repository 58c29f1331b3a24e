"""The agent running jobs: real step processes, the server faked at the HTTP boundary
(httpx.MockTransport), recording what reaches it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from runnerhub.agent import commands, files
from runnerhub.agent.errors import NotConfigured
from runnerhub.agent.workflow_commands import read_assignments
from runnerhub.runner_config import RunnerFiles, config_files

ROOT = "http://hub.test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeServer:
    """The job endpoints of docs/runner-protocol.md section 6, keeping each line's seq once."""

    def __init__(self, *jobs: dict[str, Any]) -> None:
        self.messages: list[dict[str, Any]] = [
            {"messageId": i, "messageType": "RunnerJobRequest", "body": job}
            for i, job in enumerate(jobs, 1)
        ]
        self.expected = len({job["jobId"] for job in jobs})
        self.lock = threading.RLock()
        self.lines: dict[int, dict[str, Any]] = {}  # by seq
        self.log_posts: list[float] = []  # when each logs POST arrived
        self.steps: dict[int, dict[str, Any]] = {}
        self.started: list[int] = []
        self.completed: dict[int, dict[str, Any]] = {}
        self.bodies: list[bytes] = []  # every request body, to look for secrets
        self.failures: list[Callable[[], httpx.Response]] = []  # for the next job calls
        self.token_failures: list[Callable[[], httpx.Response]] = []  # the next token calls
        self.cancel_requested = False
        self.gone = False  # the runner was removed: 401 everywhere
        self.on_line: Callable[[FakeServer, dict[str, Any]], None] = lambda server, line: None

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.bodies.append(request.content)
        if self.gone:
            return httpx.Response(401, json={"message": "Bad credentials"})
        if path.startswith("/_apis/oauth2/token/"):
            with self.lock:
                if self.token_failures:
                    return self.token_failures.pop(0)()
            return httpx.Response(200, json={"access_token": "rha_x", "expires_in": 900})
        if path == "/_apis/runner/sessions":
            return httpx.Response(201, json={"sessionId": "S", "runnerId": 7})
        if path == "/_apis/runner/messages":
            return self.poll()
        if path.startswith("/_apis/runner/sessions/"):
            return httpx.Response(204)
        with self.lock:
            if self.failures and path.endswith(("/logs", "/complete")):
                return self.failures.pop(0)()
        job_id, action = int(path.split("/")[-2]), path.split("/")[-1]
        return getattr(self, action)(job_id, json.loads(request.content))  # type: ignore[no-any-return]

    def poll(self) -> httpx.Response:
        with self.lock:
            if self.messages:
                return httpx.Response(200, json=self.messages.pop(0))
        time.sleep(0.05)  # a short long poll
        return httpx.Response(202)

    def start(self, job_id: int, body: dict[str, Any]) -> httpx.Response:
        self.started.append(job_id)
        return httpx.Response(200, json={})

    def logs(self, job_id: int, body: dict[str, Any]) -> httpx.Response:
        with self.lock:
            self.log_posts.append(time.monotonic())
            for line in body["lines"]:
                if self.lines.setdefault(line["seq"], line) is line:
                    self.on_line(self, line)
            self.steps |= {step["number"]: step for step in body["steps"]}
        return httpx.Response(200, json={"cancelRequested": self.cancel_requested})

    def complete(self, job_id: int, body: dict[str, Any]) -> httpx.Response:
        self.completed[job_id] = body
        if len(self.completed) == self.expected:
            self.gone = True  # a non-ephemeral agent's run then ends with exit 6
        return httpx.Response(200, json={})

    def cancel(self, job_id: int) -> None:
        with self.lock:
            self.messages.append(
                {"messageId": 99, "messageType": "JobCancellation", "body": {"jobId": job_id}}
            )

    def printed(self, step: int) -> list[str]:
        """What the step's process wrote (its header and the agent's errors left out)."""
        texts = [line["text"] for _, line in sorted(self.lines.items()) if line["step"] == step]
        body = texts[texts.index("##[endgroup]") + 1 :] if "##[endgroup]" in texts else texts
        return [text for text in body if not text.startswith("##[")]


def job(*steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "jobId": 7, "runId": 3, "runAttempt": 1, "jobKey": "build", "jobName": "build",
        "repository": "acme/widgets", "workflow": "CI", "timeoutMinutes": 360,
        "continueOnError": False, "env": {}, "defaults": {"shell": None, "workingDirectory": None},
        "contexts": {"github": {"repository": "acme/widgets", "run_id": "3", "sha": "abc",
                                "ref": "refs/heads/main", "actor": "octo", "event_name": "push"},
                     "inputs": {}, "matrix": {"os": "linux"}, "needs": {}, "vars": {},
                     "secrets": {}},
        "steps": [{"number": n, "id": None, "name": None, "run": "true", "shell": None, "env": {},
                   "workingDirectory": None, "if": None, "continueOnError": False,
                   "timeoutMinutes": None, **step} for n, step in enumerate(steps, 2)],
        "outputs": {}, "masks": [],
    }  # fmt: skip
    return body | fields


def configured(directory: Path, ephemeral: bool = True) -> Path:
    runner = RunnerFiles(
        agent_id=7, agent_name="box", pool_id=1, pool_name="Default", server_url=f"{ROOT}/",
        github_url=f"{ROOT}/acme", work_folder="_work", ephemeral=ephemeral, client_id="c",
        authorization_url=f"{ROOT}/_apis/oauth2/token/c", key=KEY,
    )  # fmt: skip
    files.write(directory, config_files(runner))
    return directory


def run(tmp_path: Path, server: FakeServer, interval: float = 0.1) -> dict[str, Any]:
    """The ephemeral agent's whole `run` against `server`; the job's completion."""
    assert commands.run(configured(tmp_path), 1.0, interval, server.transport()) == 0
    return server.completed[7]


def test_outputs_env_and_path_reach_later_steps(tmp_path: Path) -> None:
    first = """
echo "text=hi" >> "$GITHUB_OUTPUT"
printf 'poem<<EOF\\nroses\\nviolets\\nEOF\\n' >> "$GITHUB_OUTPUT"
echo "FROM_STEP=set" >> "$GITHUB_ENV"
mkdir -p tools && printf '#!/bin/sh\\necho tool ran\\n' > tools/hello && chmod +x tools/hello
echo "$PWD/tools" >> "$GITHUB_PATH"
"""
    second = 'echo "${{ steps.a.outputs.text }} $FROM_STEP $LEVEL $GREETING"; hello'
    third = 'echo "$GITHUB_REPOSITORY $GITHUB_JOB $CI $RUNNER_NAME $GITHUB_ACTION"'
    server = FakeServer(
        job(
            {"id": "a", "run": first},
            {"run": second, "env": {"LEVEL": "step"}},
            {"run": third, "shell": "sh"},
            {
                "run": "import os; print(os.getcwd() == os.environ['GITHUB_WORKSPACE'])",
                "shell": "python",
            },
            env={"GREETING": "hi ${{ matrix.os }}", "LEVEL": "job"},
            outputs={
                "greeting": "${{ steps.a.outputs.text }}",
                "poem": "${{ steps.a.outputs.poem }}",
            },
        )
    )
    done = run(tmp_path, server)
    assert server.printed(3) == ["hi set step hi linux", "tool ran"]
    assert server.printed(4) == ["acme/widgets build true box __run_2"]
    assert server.printed(5) == ["True"]
    assert done["conclusion"] == "success"
    assert done["outputs"] == {"greeting": "hi", "poem": "roses\nviolets"}
    assert [s["conclusion"] for s in done["steps"]] == ["success"] * 4
    assert (tmp_path / "_work" / "widgets" / "widgets").is_dir()


def test_after_a_failure_only_always_and_failure_steps_run(tmp_path: Path) -> None:
    server = FakeServer(
        job(
            {"run": "echo before; exit 3"},
            {"run": "echo skipped"},
            {"run": "echo always", "if": "always()"},
            {"run": "echo failure", "if": "${{ failure() }}"},
            {"run": "echo success", "if": "success()"},
        )
    )
    done = run(tmp_path, server)
    assert done["conclusion"] == "failure"
    assert [s["conclusion"] for s in done["steps"]] == [
        "failure", "skipped", "success", "success", "skipped",
    ]  # fmt: skip
    assert "##[error]Process completed with exit code 3." in _texts(server, 2)
    assert server.printed(4) == ["always"]
    assert 3 not in {line["step"] for line in server.lines.values()}


def test_continue_on_error_keeps_the_job_successful(tmp_path: Path) -> None:
    server = FakeServer(
        job(
            {"id": "flaky", "run": "exit 1", "continueOnError": True},
            {"run": "echo ${{ steps.flaky.outcome }}/${{ steps.flaky.conclusion }}"},
        )
    )
    done = run(tmp_path, server)
    assert server.printed(3) == ["failure/success"]
    assert done["conclusion"] == "success"
    assert done["steps"][0]["conclusion"] == "failure"  # the record says what happened


def test_step_and_job_timeouts(tmp_path: Path) -> None:
    started = time.monotonic()
    server = FakeServer(
        job(
            {"run": "sleep 30", "timeoutMinutes": 0.01, "continueOnError": True},
            {"run": "echo next"},
            {"run": "sleep 30"},
            {"run": "echo cleanup", "if": "always()"},
            {"run": "echo not me", "if": "failure()"},
            timeoutMinutes=0.04,
        )
    )
    done = run(tmp_path, server)
    assert time.monotonic() - started < 6
    assert "##[error]The action has timed out." in _texts(server, 2)
    assert [s["conclusion"] for s in done["steps"]] == [
        "failure", "success", "cancelled", "success", "skipped",
    ]  # fmt: skip
    assert done["conclusion"] == "failure"
    assert any("exceeded the maximum execution time" in text for text in _texts(server, 7))


def test_cancellation_stops_a_long_sleep(tmp_path: Path) -> None:
    def cancel_when_started(server: FakeServer, line: dict[str, Any]) -> None:
        if line["text"] == "sleeping":
            server.cancelled_at = time.monotonic()  # type: ignore[attr-defined]
            server.cancel(7)

    server = FakeServer(
        job(
            {"run": "echo sleeping; (sleep 30; echo late) & sleep 30"},
            {"run": "echo skipped"},
            {"run": "echo cleanup", "if": "always()"},
        )
    )
    server.on_line = cancel_when_started
    done = run(tmp_path, server)
    assert time.monotonic() - server.cancelled_at < 2  # type: ignore[attr-defined]
    assert done["conclusion"] == "cancelled"
    assert [s["conclusion"] for s in done["steps"]] == ["cancelled", "skipped", "success"]
    assert server.printed(4) == ["cleanup"]


def test_cancel_requested_on_a_log_batch_cancels_too(tmp_path: Path) -> None:
    server = FakeServer(job({"run": "echo go; sleep 30"}))
    server.cancel_requested = True
    started = time.monotonic()
    assert run(tmp_path, server)["conclusion"] == "cancelled"
    assert time.monotonic() - started < 3


def test_secrets_never_leave_the_machine(tmp_path: Path) -> None:
    script = 'echo "s3cret in a line"; P=tok; echo "::add-mask::${P}3n"; echo "then ${P}3n"'
    server = FakeServer(
        job(
            {"id": "s", "run": script},
            {
                "id": "t",
                "run": 'echo "$PASSWORD" ${{ secrets.PASSWORD }}; echo out=p4ss >> $GITHUB_OUTPUT',
            },
            masks=["s3cret"],
            env={"PASSWORD": "${{ secrets.PASSWORD }}"},
            contexts={**job()["contexts"], "secrets": {"PASSWORD": "p4ss"}},
            outputs={"leak": "${{ steps.t.outputs.out }}", "fine": "ok"},
        )
    )
    done = run(tmp_path, server)
    assert server.printed(2) == ["*** in a line", "then ***"]
    assert server.printed(3) == ["*** ***"]
    assert done["outputs"] == {"fine": "ok"}  # GitHub's rule: no output carrying a secret
    everything = b"".join(server.bodies)
    assert b"s3cret" not in everything
    assert b"tok3n" not in everything
    assert b"p4ss" not in everything


def test_lines_are_batched_at_most_once_a_second(tmp_path: Path) -> None:
    server = FakeServer(job({"run": "for i in $(seq 25); do echo line $i; sleep 0.1; done"}))
    run(tmp_path, server, interval=1.0)
    gaps = [b - a for a, b in zip(server.log_posts, server.log_posts[1:], strict=False)]
    assert gaps
    assert min(gaps) >= 0.95
    assert len(server.log_posts) <= 5
    assert server.printed(2) == [f"line {i}" for i in range(1, 26)]
    assert sorted(server.lines) == list(range(1, len(server.lines) + 1))


def test_no_line_is_lost_or_doubled_across_server_errors(tmp_path: Path) -> None:
    def unavailable() -> httpx.Response:
        return httpx.Response(503, json={"message": "restarting"})

    def unreachable() -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    server = FakeServer(job({"run": "for i in $(seq 20); do echo line $i; sleep 0.05; done"}))
    server.failures = [unavailable, unreachable, unavailable, unreachable]
    done = run(tmp_path, server)
    assert server.printed(2) == [f"line {i}" for i in range(1, 21)]
    assert sorted(server.lines) == list(range(1, len(server.lines) + 1))
    assert done["conclusion"] == "success"
    assert server.failures == []


def test_a_server_failing_as_the_agent_starts_is_waited_out(tmp_path: Path) -> None:
    """A balancer with no instance up yet (503), or none listening, when the agent fetches
    its first token: it retries, as it does everywhere else, instead of exiting."""

    def unavailable() -> httpx.Response:
        return httpx.Response(503, json={"message": "no server is available"})

    def unreachable() -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    server = FakeServer(job({"run": "echo up"}))
    server.token_failures = [unavailable, unreachable, unavailable]
    done = run(tmp_path, server)
    assert server.printed(2) == ["up"]
    assert done["conclusion"] == "success"
    assert server.token_failures == []


def test_a_job_sent_again_runs_once_and_a_runner_keeps_taking_jobs(tmp_path: Path) -> None:
    first, second = job({"run": "echo one"}), job({"run": "echo two"}, jobId=8)
    server = FakeServer(first, first, second)
    with pytest.raises(NotConfigured):  # the fake server removes the runner after its jobs
        commands.run(configured(tmp_path, ephemeral=False), 1.0, 0.1, server.transport())
    assert server.started == [7, 8]
    assert set(server.completed) == {7, 8}


def test_unknown_shells_and_bad_expressions_fail_the_step(tmp_path: Path) -> None:
    server = FakeServer(
        job(
            {"run": "echo x", "shell": "fish"},
            {"run": "echo ${{ nosuch.context }}", "if": "always()"},
            {"run": "echo fine", "if": "always()", "shell": "bash {0}"},
        )
    )
    done = run(tmp_path, server)
    assert [s["conclusion"] for s in done["steps"]] == ["failure", "failure", "success"]
    assert server.printed(4) == ["fine"]


def test_heredocs_and_assignments_parse_as_github_writes_them(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("a=1=2\nb<<X\nline\n\nX\n\nc=\n")
    assert read_assignments(path) == {"a": "1=2", "b": "line\n", "c": ""}


def _texts(server: FakeServer, step: int) -> list[str]:
    return [line["text"] for _, line in sorted(server.lines.items()) if line["step"] == step]
