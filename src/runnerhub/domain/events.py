"""What the domain announces once a change has committed (see storage/unit_of_work.py).

Subscribers wired in app.py act on them: today, waking the long poll of the runner's agent
so that it learns at once that its runner changed or is gone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunnerChanged:
    """The runner's labels (or anything its agent should re-read) changed."""

    runner_id: int
    session_id: str | None


@dataclass(frozen=True, slots=True)
class RunnerRemoved:
    runner_id: int
    session_id: str | None


@dataclass(frozen=True, slots=True)
class SessionClosed:
    runner_id: int
    session_id: str




@dataclass(frozen=True, slots=True)
class JobAssigned:
    """A runner claimed a job: its agent's pending poll answers with it."""

    job_id: int
    runner_id: int
    session_id: str | None


@dataclass(frozen=True, slots=True)
class JobCancelRequested:
    job_id: int
    runner_id: int | None
    session_id: str | None


# What a runner's agent is woken for.
RunnerEvent = RunnerChanged | RunnerRemoved | SessionClosed | JobAssigned | JobCancelRequested


@dataclass(frozen=True, slots=True)
class HookDeliveryQueued:
    """A webhook delivery was written to the outbox: the deliverer sends it now."""

    hook_id: int
