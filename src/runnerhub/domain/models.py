"""Plain values the domain hands to the API: no ORM objects, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from runnerhub.storage.labels import Label, LabelType

__all__ = [
    "Commit",
    "ContentFile",
    "IssuedToken",
    "Job",
    "JobStep",
    "Label",
    "LabelType",
    "Runner",
    "RunnerApplication",
    "Workflow",
    "WorkflowRun",
]


@dataclass(slots=True)
class Runner:
    id: int
    name: str
    os: str
    status: str  # online | offline, derived at read time
    busy: bool  # holds a job in progress, derived at read time
    ephemeral: bool
    runner_group_id: int
    version: str | None = None
    labels: list[Label] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RunnerApplication:
    os: str
    architecture: str
    download_url: str
    filename: str
    sha256_checksum: str | None = None


# -- workflows, runs and jobs


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    branch: str
    message: str
    created_at: datetime
    author_login: str | None


@dataclass(frozen=True, slots=True)
class ContentFile:
    path: str
    sha: str  # git's blob sha1 of the content
    content: bytes

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Workflow:
    id: int
    name: str
    path: str
    state: str  # active | disabled_manually | deleted
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    id: int
    workflow_id: int
    workflow_path: str
    name: str
    run_number: int
    run_attempt: int
    event: str
    status: str
    conclusion: str | None
    head_sha: str
    head_branch: str
    actor_login: str | None
    created_at: datetime
    updated_at: datetime
    run_started_at: datetime | None
    head_commit: Commit | None


@dataclass(frozen=True, slots=True)
class JobStep:
    number: int
    name: str
    status: str  # queued | in_progress | completed
    conclusion: str | None
    started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    run_id: int
    run_attempt: int
    name: str
    status: str  # queued | in_progress | completed (pending ones show as queued)
    conclusion: str | None
    head_sha: str
    head_branch: str
    workflow_name: str
    labels: list[str]
    runner_id: int | None
    runner_name: str | None
    runner_group_id: int | None
    runner_group_name: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    steps: list[JobStep]
