"""A job from its RunnerJobRequest to its completion: acknowledged, its steps run in order
with the status so far, its log streamed, its conclusion and outputs reported
(docs/runner-protocol.md, section 6)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runnerhub import expressions
from runnerhub.agent.environment import Places, github_context, runner_context
from runnerhub.agent.errors import JobGone
from runnerhub.agent.logs import JobLog, Masker, now
from runnerhub.agent.reporting import JobReporter
from runnerhub.agent.session import Online, say
from runnerhub.agent.step_run import StepRun
from runnerhub.agent.steps import ProcessGroups
from runnerhub.expressions import Status

DEFAULT_TIMEOUT_MINUTES = 360


@dataclass(frozen=True, slots=True)
class Agent:
    """What a job needs from the agent around it."""

    online: Online
    directory: Path
    server_root: str
    max_backoff: float
    log_interval: float = 1.0


def take_job(agent: Agent, job: dict[str, Any]) -> bool:
    """Acknowledges and runs `job`; False when the server says it is not this runner's."""
    job_id = int(job["jobId"])
    online = agent.online
    reporter = JobReporter(online.client, online.access, job_id, agent.max_backoff)
    run = JobRun(agent, job)
    online.on_cancel = lambda cancelled: run.cancel() if cancelled == job_id else None
    try:
        reporter.start()
    except JobGone:
        say(f"job {job_id} is not this runner's any more; skipped")
        return False
    say(f"running job {job_id} ({job.get('jobName', job.get('jobKey', ''))})")
    run.log = JobLog(
        reporter.send_logs, run.masker, run.cancel,
        interval=agent.log_interval, max_backoff=agent.max_backoff,
    )  # fmt: skip
    try:
        conclusion, outputs = run.run()
    except Exception as error:  # a broken message or a full disk must not end the runner
        run.write_job_line(f"##[error]The runner could not run the job: {error!r}")
        conclusion, outputs = "failure", {}
    run.log.close()
    reporter.complete(conclusion, outputs, run.log.steps())
    say(f"job {job_id} completed: {conclusion}")
    return True


@dataclass
class Progress:
    """How the job has gone so far, as the status functions see it."""

    cancelled: bool = False
    failed: bool = False
    timed_out: bool = False

    def status(self) -> Status:
        if self.cancelled or self.timed_out:
            return Status.CANCELLED
        return Status.FAILURE if self.failed else Status.SUCCESS

    def conclusion(self) -> str:
        if self.cancelled:
            return "cancelled"
        # A timed-out job fails, as GitHub reports it, though its later steps see cancelled().
        return "failure" if self.failed or self.timed_out else "success"


@dataclass
class JobRun:
    agent: Agent
    job: dict[str, Any]
    log: JobLog = field(init=False)
    masker: Masker = field(init=False)
    progress: Progress = field(default_factory=Progress)

    def __post_init__(self) -> None:
        secrets = (self.job.get("contexts", {}).get("secrets") or {}).values()
        self.masker = Masker([*map(str, self.job.get("masks") or []), *map(str, secrets)])
        self._lock = threading.Lock()
        self._step_cancel: threading.Event | None = None

    def cancel(self) -> None:
        with self._lock:
            self.progress.cancelled = True
            if self._step_cancel is not None:
                self._step_cancel.set()

    def step_cancel(self) -> threading.Event:
        """A fresh event for the step about to start: a cancellation that came before it
        shows in its status (so an `always()` step still runs), one during it stops it."""
        with self._lock:
            self._step_cancel = threading.Event()
            return self._step_cancel

    def run(self) -> tuple[str, dict[str, str]]:
        local = self.agent.online.local
        repository = str(self.job.get("repository") or "")
        places = Places.prepare(self.agent.directory, local.work_folder, repository)
        timeout = float(self.job.get("timeoutMinutes") or DEFAULT_TIMEOUT_MINUTES)
        contexts = self._contexts(places, runner_context(local.agent_name, places))
        groups = ProcessGroups()
        shared = Shared(contexts, places, groups, time.monotonic() + timeout * 60)
        try:
            for step in self.job.get("steps") or []:
                StepRun(self, shared, step).run()
        finally:
            groups.kill_all()
        if self.progress.timed_out:
            self.write_job_line(
                f"##[error]The job has exceeded the maximum execution time of {timeout:g} minutes."
            )
        return self.progress.conclusion(), self._outputs(contexts)

    def _contexts(self, places: Places, runner: dict[str, str]) -> dict[str, Any]:
        given = dict(self.job.get("contexts") or {})
        contexts: dict[str, Any] = {
            "inputs": {}, "matrix": {}, "needs": {}, "vars": {}, "secrets": {}, "strategy": {},
            **given,
            "github": github_context(self.job, self.agent.server_root, places),
            "runner": runner, "steps": {}, "env": {}, "job": {"status": "success"},
        }  # fmt: skip
        try:
            env = expressions.value(self.job.get("env") or {}, contexts, Status.SUCCESS)
            contexts["env"] = {str(k): expressions.to_string(v) for k, v in env.items()}
        except expressions.ExpressionError as error:
            self.write_job_line(f"##[error]The job's env: {error}")
            self.progress.failed = True
        return contexts

    def _outputs(self, contexts: dict[str, Any]) -> dict[str, str]:
        outputs: dict[str, str] = {}
        status = self.progress.status()
        for name, source in (self.job.get("outputs") or {}).items():
            try:
                text = expressions.to_string(expressions.value(source, contexts, status))
            except expressions.ExpressionError as error:
                self.write_job_line(f"##[error]The job output {name!r}: {error}")
                continue
            if self.masker.reveals(text):
                # GitHub's rule: an output carrying a secret is not handed to other jobs.
                self.write_job_line(f"Skip output '{name}' since it may contain secret.")
                continue
            outputs[str(name)] = text
        return outputs

    def write_job_line(self, text: str) -> None:
        """A line of the job's own, under its last step, GitHub's "Complete job"."""
        numbers = [int(step["number"]) for step in self.job.get("steps") or []]
        self.log.write(max(numbers, default=1) + 1, text)

    def record(self, number: int, started: str, conclusion: str | None) -> None:
        self.log.step({
            "number": number,
            "status": "in_progress" if conclusion is None else "completed",
            "conclusion": conclusion,
            "startedAt": started,
            "completedAt": None if conclusion is None else now(),
        })  # fmt: skip


@dataclass
class Shared:
    """What the steps of a job pass on to each other."""

    contexts: dict[str, Any]
    places: Places
    groups: ProcessGroups
    deadline: float  # the job's, on time.monotonic
    paths: list[str] = field(default_factory=list)  # from GITHUB_PATH, latest first
    unnamed: int = 0  # run steps without an id so far, for GITHUB_ACTION
