"""One `run:` step as a process: its shell, its script file, its merged output read line by
line, and its end (exit, timeout, cancellation) in its own process group."""

from __future__ import annotations

import contextlib
import enum
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# GitHub's commands: an unspecified shell is `bash -e {0}` (or `sh -e {0}` without bash), an
# explicit `bash` adds pipefail and skips the profile.
UNSPECIFIED_BASH = "bash -e {0}"
SHELLS = {
    "bash": "bash --noprofile --norc -eo pipefail {0}",
    "sh": "sh -e {0}",
    "python": "python {0}",
}
GRACE_SECONDS = 5.0  # between SIGINT and SIGKILL when a step is stopped
DRAIN_SECONDS = 1.0  # output still read after the shell exits (a background child may hold it)
READ_LIMIT = 1024 * 1024  # of one line; the rest of a longer line is dropped


class ShellError(ValueError):
    """A `shell:` the agent cannot run; the step fails with this message."""


class Ending(enum.Enum):
    EXITED = "exited"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Finished:
    ending: Ending
    exit_code: int | None


def shell_command(shell: str | None, script: Path, path: str) -> list[str]:
    """The command line for `shell`, its program found on the step's PATH. `python` falls back
    to the agent's own interpreter, so that a python step runs wherever the agent does."""
    if not shell:
        template = UNSPECIFIED_BASH if shutil.which("bash", path=path) else SHELLS["sh"]
    elif shell in SHELLS:
        template = SHELLS[shell]
    elif "{0}" in shell:
        template = shell
    else:
        raise ShellError(f"shell {shell!r} is not supported: use bash, sh, python or a {{0}} form")
    program, *arguments = shlex.split(template)
    found = shutil.which(program, path=path) or (sys.executable if program == "python" else None)
    if found is None:
        raise ShellError(f"{program}: command not found on PATH")
    return [found, *(argument.replace("{0}", str(script)) for argument in arguments)]


def write_script(temp: Path, shell: str | None, text: str) -> Path:
    suffix = ".py" if shell == "python" else ".sh"
    script = temp / f"{uuid.uuid4()}{suffix}"
    script.write_text(text)
    return script


class ProcessGroups:
    """The process groups of a job's steps. Children a step left running in the background
    (a server for later steps) live until the job ends, as on GitHub."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def kill_all(self) -> None:
        for group in self.ids:
            _signal_group(group, signal.SIGKILL)
        self.ids.clear()


def run_process(
    command: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    deadline: float | None,
    cancelled: threading.Event,
    groups: ProcessGroups,
) -> Finished:
    """Runs `command` to its end, its output to `on_line`. At `deadline` (time.monotonic) or
    when `cancelled` is set, the process group gets SIGINT, then SIGKILL after a grace."""
    process = subprocess.Popen(  # noqa: S603  (the workflow's own command, by design)
        command, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    groups.ids.append(process.pid)
    assert process.stdout is not None
    reader = threading.Thread(target=_read_lines, args=(process.stdout, on_line), daemon=True)
    reader.start()
    try:
        ending = _wait(process, deadline, cancelled)
        if ending is not Ending.EXITED:
            _stop(process)
    finally:
        if process.poll() is None:  # the agent itself is stopping
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
    reader.join(DRAIN_SECONDS)
    return Finished(ending, process.returncode)


def _wait(
    process: subprocess.Popen[bytes], deadline: float | None, cancelled: threading.Event
) -> Ending:
    while True:
        try:
            process.wait(timeout=0.1)
            return Ending.EXITED
        except subprocess.TimeoutExpired:
            if cancelled.is_set():
                return Ending.CANCELLED
            if deadline is not None and time.monotonic() >= deadline:
                return Ending.TIMED_OUT


def _stop(process: subprocess.Popen[bytes]) -> None:
    _signal_group(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(group, sig)


def _read_lines(stream: IO[bytes], on_line: Callable[[str], None]) -> None:
    with stream:
        truncated = False
        for raw in iter(lambda: stream.readline(READ_LIMIT), b""):
            if not truncated:
                on_line(raw.decode(errors="replace").rstrip("\r\n"))
            # A line longer than the limit comes in pieces: only its first is kept.
            truncated = not raw.endswith(b"\n")
