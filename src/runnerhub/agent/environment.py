"""Where a job runs and what GitHub tells its steps: the work folders and the default
environment variables (CI, GITHUB_*, RUNNER_*), named and laid out as GitHub's runner does."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runnerhub.agent import host


@dataclass(frozen=True, slots=True)
class Places:
    """`_work/widgets/widgets` (the workspace), `_work/widgets`, `_work/_temp`, `_work/_tool`."""

    workspace: Path
    runner_workspace: Path
    temp: Path
    tool_cache: Path

    @classmethod
    def prepare(cls, runner_directory: Path, work_folder: str, repository: str) -> Places:
        work = runner_directory / work_folder  # an absolute work folder stays as it is
        name = repository.rsplit("/", 1)[-1] or "workspace"
        places = cls(work / name / name, work / name, work / "_temp", work / "_tool")
        # The temporary folder is the job's own: GitHub empties it for every job.
        shutil.rmtree(places.temp, ignore_errors=True)
        for folder in (places.workspace, places.temp, places.tool_cache):
            folder.mkdir(parents=True, exist_ok=True)
        return places


def runner_context(name: str, places: Places) -> dict[str, str]:
    return {
        "name": name,
        "os": host.os_label(),
        "arch": host.arch_label(),
        "temp": str(places.temp),
        "tool_cache": str(places.tool_cache),
        "workspace": str(places.runner_workspace),
    }


def github_context(job: Mapping[str, Any], server_root: str, places: Places) -> dict[str, Any]:
    """The message's github context, completed with what the job itself says and what only
    the runner knows (the workspace, the event file)."""
    given: dict[str, Any] = dict(job.get("contexts", {}).get("github") or {})
    ref = str(given.get("ref") or "")
    defaults = {
        "repository": job.get("repository", ""),
        "repository_owner": str(job.get("repository", "")).split("/", 1)[0],
        "run_id": str(job.get("runId", "")),
        "run_number": str(job.get("runId", "")),
        "run_attempt": str(job.get("runAttempt", 1)),
        "job": job.get("jobKey", ""),
        "workflow": job.get("workflow", ""),
        "ref_name": ref.rsplit("/", 1)[-1] if ref.startswith("refs/") else ref,
        "server_url": server_root,
        "api_url": f"{server_root}/api/v3",
    }
    merged = {**defaults, **{key: value for key, value in given.items() if value is not None}}
    # Paths on this machine are the runner's to say, whatever the server sent.
    merged["workspace"] = str(places.workspace)
    merged["event_path"] = str(_event_file(places, given.get("event") or {}))
    return merged


def _event_file(places: Places, event: object) -> Path:
    path = places.temp / "_github_workflow" / "event.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event))
    return path


GITHUB_VARIABLES = {
    "GITHUB_REPOSITORY": "repository",
    "GITHUB_REPOSITORY_OWNER": "repository_owner",
    "GITHUB_RUN_ID": "run_id",
    "GITHUB_RUN_NUMBER": "run_number",
    "GITHUB_RUN_ATTEMPT": "run_attempt",
    "GITHUB_JOB": "job",
    "GITHUB_SHA": "sha",
    "GITHUB_REF": "ref",
    "GITHUB_REF_NAME": "ref_name",
    "GITHUB_REF_TYPE": "ref_type",
    "GITHUB_HEAD_REF": "head_ref",
    "GITHUB_BASE_REF": "base_ref",
    "GITHUB_EVENT_NAME": "event_name",
    "GITHUB_EVENT_PATH": "event_path",
    "GITHUB_ACTOR": "actor",
    "GITHUB_TRIGGERING_ACTOR": "triggering_actor",
    "GITHUB_WORKFLOW": "workflow",
    "GITHUB_SERVER_URL": "server_url",
    "GITHUB_API_URL": "api_url",
    "GITHUB_WORKSPACE": "workspace",
}
RUNNER_VARIABLES = {
    "RUNNER_NAME": "name",
    "RUNNER_OS": "os",
    "RUNNER_ARCH": "arch",
    "RUNNER_TEMP": "temp",
    "RUNNER_TOOL_CACHE": "tool_cache",
    "RUNNER_WORKSPACE": "workspace",
}


def default_variables(github: Mapping[str, Any], runner: Mapping[str, str]) -> dict[str, str]:
    """What every step sees, whatever the workflow's env says (GitHub does not let a workflow
    override these)."""
    variables = {"CI": "true", "GITHUB_ACTIONS": "true"}
    variables |= {name: str(github.get(key) or "") for name, key in GITHUB_VARIABLES.items()}
    variables |= {name: runner[key] for name, key in RUNNER_VARIABLES.items()}
    return variables
