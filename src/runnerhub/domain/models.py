"""Plain values the domain hands to the API: no ORM objects, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from runnerhub.storage.labels import Label, LabelType

__all__ = ["IssuedToken", "Label", "LabelType", "Runner", "RunnerApplication"]


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
