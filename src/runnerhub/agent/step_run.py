"""One step of a job: its `if:` decided with the status so far, its expressions resolved,
its process run with GitHub's environment, its workflow command files read back into the
contexts of the steps after it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnerhub import expressions
from runnerhub.agent.environment import default_variables
from runnerhub.agent.logs import now
from runnerhub.agent.steps import (
    Ending,
    Finished,
    ShellError,
    run_process,
    shell_command,
    write_script,
)
from runnerhub.agent.workflow_commands import (
    CommandFileError,
    mask_value,
    read_assignments,
    read_path_entries,
)
from runnerhub.expressions import ExpressionError, Status

if TYPE_CHECKING:
    import threading

    from runnerhub.agent.jobs import JobRun, Shared

# What makes a step fail before or around its process, rather than by its exit code.
STEP_ERRORS = (ExpressionError, ShellError, CommandFileError, OSError)


@dataclass(frozen=True, slots=True)
class CommandFiles:
    """GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY: fresh for each step."""

    output: Path
    env: Path
    path: Path
    summary: Path

    @classmethod
    def fresh(cls, temp: Path, number: int) -> CommandFiles:
        folder = temp / "_runner_file_commands"
        folder.mkdir(parents=True, exist_ok=True)
        names = ("set_output", "set_env", "add_path", "step_summary")
        files = cls(*(folder / f"{name}_{number}" for name in names))
        for path in (files.output, files.env, files.path, files.summary):
            path.write_text("")
        return files

    def variables(self) -> dict[str, str]:
        return {
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_ENV": str(self.env),
            "GITHUB_PATH": str(self.path),
            "GITHUB_STEP_SUMMARY": str(self.summary),
        }


class StepRun:
    def __init__(self, job: JobRun, shared: Shared, step: dict[str, Any]) -> None:
        self.job, self.shared, self.step = job, shared, step
        self.number = int(step["number"])
        self.outputs: dict[str, str] = {}
        self.continue_on_error = False
        self.action = self._action_name()

    def _action_name(self) -> str:
        """GITHUB_ACTION: the step's id, else GitHub's `__run`, `__run_2`, ..."""
        if self.step.get("id"):
            return str(self.step["id"])
        self.shared.unnamed += 1
        return "__run" if self.shared.unnamed == 1 else f"__run_{self.shared.unnamed}"

    def run(self) -> None:
        started, cancel = now(), self.job.step_cancel()
        status = self.job.progress.status()
        contexts = {**self.shared.contexts, "job": {"status": status.value}}
        try:
            if not expressions.condition(self.step.get("if"), contexts, status):
                self._finish(started, "skipped")
                return
            self.job.record(self.number, started, None)
            outcome = self._execute(contexts, status, cancel)
        except STEP_ERRORS as error:
            self._error(str(error))
            outcome = "failure"
        self._finish(started, outcome)

    def _execute(self, contexts: dict[str, Any], status: Status, cancel: threading.Event) -> str:
        self.continue_on_error = expressions.truthy(
            expressions.value(self.step.get("continueOnError", False), contexts, status)
        )
        env = {**contexts["env"], **self._resolved_env(contexts, status)}
        contexts = {**contexts, "env": env}
        script = expressions.interpolate(str(self.step.get("run") or ""), contexts, status)
        shell = self.step.get("shell") or self._defaults().get("shell")
        files = CommandFiles.fresh(self.shared.places.temp, self.number)
        process_env = self._process_env(env, files)
        script_path = write_script(self.shared.places.temp, shell, script)
        command = shell_command(shell, script_path, process_env["PATH"])
        self._header(contexts, status, script, " ".join(command).replace(str(script_path), "{0}"))
        finished = run_process(
            command, cwd=self._working_directory(contexts, status), env=process_env,
            on_line=self._line, deadline=self._deadline(contexts, status), cancelled=cancel,
            groups=self.shared.groups,
        )  # fmt: skip
        self._read_back(files)
        return self._outcome(finished)

    def _resolved_env(self, contexts: dict[str, Any], status: Status) -> dict[str, str]:
        env = expressions.value(self.step.get("env") or {}, contexts, status)
        return {str(name): expressions.to_string(value) for name, value in env.items()}

    def _defaults(self) -> dict[str, Any]:
        return dict(self.job.job.get("defaults") or {})

    def _process_env(self, env: dict[str, str], files: CommandFiles) -> dict[str, str]:
        # The agent's own environment < the workflow's env < GitHub's variables, which a
        # workflow cannot override on GitHub either.
        github, runner = self.shared.contexts["github"], self.shared.contexts["runner"]
        merged = {**os.environ, **env, **default_variables(github, runner), **files.variables()}
        merged["GITHUB_ACTION"] = self.action
        base_path = env.get("PATH") or os.environ.get("PATH", os.defpath)
        merged["PATH"] = os.pathsep.join([*self.shared.paths, base_path])
        return merged

    def _working_directory(self, contexts: dict[str, Any], status: Status) -> Path:
        given = self.step.get("workingDirectory") or self._defaults().get("workingDirectory")
        if not given:
            return self.shared.places.workspace
        return self.shared.places.workspace / expressions.interpolate(str(given), contexts, status)

    def _deadline(self, contexts: dict[str, Any], status: Status) -> float | None:
        # After the job's own timeout, the steps that still run (always()) have only theirs.
        job = None if self.job.progress.timed_out else self.shared.deadline
        minutes = expressions.value(self.step.get("timeoutMinutes"), contexts, status)
        if minutes in (None, ""):
            return job
        own = time.monotonic() + float(minutes) * 60
        return own if job is None else min(own, job)

    def _header(self, contexts: dict[str, Any], status: Status, script: str, shell: str) -> None:
        name = expressions.interpolate(str(self.step.get("name") or ""), contexts, status)
        name = name or f"Run {(script.splitlines() or [''])[0]}"
        lines = [f"##[group]{name}", *script.splitlines(), f"shell: {shell}", "##[endgroup]"]
        for line in lines:
            self.job.log.write(self.number, line)

    def _line(self, text: str) -> None:
        mask = mask_value(text)
        if mask is None:
            self.job.log.write(self.number, text)
        elif mask:
            self.job.masker.add(mask)  # the command itself is not logged

    def _read_back(self, files: CommandFiles) -> None:
        self.outputs = read_assignments(files.output)
        self.shared.contexts["env"] = {**self.shared.contexts["env"], **read_assignments(files.env)}
        # GitHub puts each added directory in front of those before it.
        self.shared.paths[:0] = reversed(read_path_entries(files.path))

    def _outcome(self, finished: Finished) -> str:
        if finished.ending is Ending.CANCELLED:
            self._error("The operation was canceled.")
            return "cancelled"
        if finished.ending is Ending.TIMED_OUT:
            if time.monotonic() >= self.shared.deadline and not self.job.progress.timed_out:
                self.job.progress.timed_out = True
                self._error("The operation was canceled.")
                return "cancelled"
            self._error("The action has timed out.")
            return "failure"
        if finished.exit_code != 0:
            self._error(f"Process completed with exit code {finished.exit_code}.")
            return "failure"
        return "success"

    def _error(self, message: str) -> None:
        self.job.log.write(self.number, f"##[error]{message}")

    def _finish(self, started: str, outcome: str) -> None:
        conclusion = "success" if outcome == "failure" and self.continue_on_error else outcome
        if conclusion == "failure":
            self.job.progress.failed = True
        if self.step.get("id"):
            self.shared.contexts["steps"][str(self.step["id"])] = {
                "outputs": self.outputs, "outcome": outcome, "conclusion": conclusion,
            }  # fmt: skip
        self.job.record(self.number, started, outcome)
