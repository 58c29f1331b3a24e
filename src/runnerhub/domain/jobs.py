"""Jobs: from queued to a runner and back, exactly once.

- A job is `pending` while jobs it needs run, then `queued` (its `if:` decides, with their
  results, whether it runs at all; an environment with protection rules makes it `waiting`
  first: domain/environments.py), then `in_progress` once a runner claims it, then
  `completed`.
- Routing: a queued job goes to an online, idle runner whose labels hold every `runs-on`
  label (case-insensitively) and whose runner group serves the repository and workflow
  (domain/group_access.py), looking in the repository, then its organization, then the
  enterprise; an idle runner takes the oldest queued job it can. A claim is two guarded
  updates in one transaction (storage/jobs.claim): one job per runner, one runner per job,
  however many server instances race. The claim wakes the runner's long poll (events).
- A runner holds its job until it reports completion; a runner whose session goes quiet past
  the liveness window has its job failed with GitHub's message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from runnerhub.domain import hook_events, journal
from runnerhub.domain.events import JobAssigned, JobCancelRequested, RunnerRemoved
from runnerhub.domain.group_access import Routing
from runnerhub.domain.models import Job, JobStep
from runnerhub.errors import NotFound, ValidationFailed
from runnerhub.storage import jobs, labels, runners
from runnerhub.storage.unit_of_work import UnitOfWork

LOG_LIMIT_BYTES = 8 * 1024 * 1024  # per job; past it lines are dropped and the log says so
QUEUE_LIMIT = timedelta(hours=24)  # a job no runner takes is cancelled after this, as GitHub
CONCLUSIONS = frozenset({"success", "failure", "cancelled", "skipped"})
LOST = (
    "The self-hosted runner: {name} lost communication with the server. Verify the machine "
    "is running and has a healthy network connection. Anything in your workflow that "
    "terminates the runner process, starves it for CPU/Memory, or blocks its network access "
    "can cause this error."
)
DEFAULT_WINDOW = timedelta(seconds=60)  # the liveness window when no setting is at hand
OFFER_SCAN = 50  # queued jobs a runner looks through for one it can take


# -- routing


def route(uow: UnitOfWork, job_ids: Sequence[int], now: datetime, window: timedelta) -> int:
    """Give newly queued jobs, oldest first, to idle runners that can take them; answers how
    many were given. The jobs are read at once, and the idle runners of each scope once for
    the whole batch (a matrix of a hundred jobs is one batch)."""
    idle_by_scope: dict[int, list[tuple[Any, set[str]]]] = {}
    access = Routing(uow)
    given = 0
    for row in jobs.queued(uow.conn, sorted(job_ids)):
        for scope_id in (row.scope_id, row.org_scope_id, row.enterprise_scope_id):
            if scope_id is None:
                continue
            if scope_id not in idle_by_scope:
                idle_by_scope[scope_id] = _idle(uow, scope_id, now - window)
            outcome = _give(uow, row, idle_by_scope[scope_id], access, now)
            if outcome is not None:  # given, or held back: either way not by another scope
                given += outcome
                break
    return given


def _idle(uow: UnitOfWork, scope_id: int, alive_since: datetime) -> list[tuple[Any, set[str]]]:
    idle = jobs.idle_runners(uow.conn, scope_id, alive_since)
    have = labels.of_runners(uow.conn, [r.id for r in idle])
    return [(r, {lb.name.lower() for lb in have.get(r.id, [])}) for r in idle]


def _give(
    uow: UnitOfWork, row: jobs.Candidate, idle: list[tuple[Any, set[str]]], access: Routing,
    now: datetime,
) -> bool | None:  # fmt: skip
    """Give the job to the first runner of `idle` that fits: True if given, False if held
    back by max-parallel (or gone), None if no runner here could take it."""
    wanted = _labels(row)
    details = None
    while (index := _first_fitting(row, wanted, idle, access)) is not None:
        if details is None:  # read once a runner fits: most batches find none idle
            details = jobs.for_claim(uow.conn, row.id)
            if details is None or _at_max_parallel(uow, row, details.message):
                return False
        runner, _ = idle.pop(index)  # taken, or taken by someone else meanwhile: busy either way
        if _claim(uow, row, runner, details.steps, now):
            return True
    return None


def _first_fitting(
    row: jobs.Candidate, wanted: set[str], idle: list[tuple[Any, set[str]]], access: Routing
) -> int | None:
    for index, (runner, names) in enumerate(idle):
        if _fits(row, wanted, names, runner, access):
            return index
    return None


def offer(uow: UnitOfWork, runner_id: int, now: datetime, window: timedelta) -> bool:
    """Let an idle, online runner take the oldest queued job it can."""
    runner = jobs.runner_for_claim(uow.conn, runner_id)
    if runner is None or runner.job_id is not None or runner.session_id is None:
        return False
    if runner.last_seen_at is None or runner.last_seen_at < now - window:
        return False
    names = {lb.name.lower() for lb in labels.of_runner(uow.conn, runner_id)}
    access = Routing(uow)
    for row in jobs.queued_for_scope(uow.conn, runner.scope_id, OFFER_SCAN):
        if not _fits(row, _labels(row), names, runner, access):
            continue
        details = jobs.for_claim(uow.conn, row.id)
        if details is None or _at_max_parallel(uow, row, details.message):
            continue
        if _claim(uow, row, runner, details.steps, now):
            return True
    return False


def _fits(
    row: jobs.Candidate, wanted: set[str], names: set[str],
    runner: jobs.IdleRunner | jobs.ClaimRunner, access: Routing,
) -> bool:  # fmt: skip
    """The runner has every label the job asks for, is in the group it names (if any), and
    its group serves the job's repository and workflow."""
    if not wanted <= names:
        return False
    if row.runner_group and row.runner_group.lower() != runner.group_name.lower():
        return False
    return runner.group_open or access.serves(row.scope_id, row.run_id, runner.group_id)


def _labels(row: jobs.Candidate) -> set[str]:
    return {str(name).lower() for name in json.loads(row.labels)}


def _claim(
    uow: UnitOfWork, row: jobs.Candidate, runner: Any, steps_json: str, now: datetime
) -> bool:
    steps = json.loads(steps_json)
    if steps:  # "Set up job" runs from the claim until the agent acknowledges
        steps[0].update(status="in_progress", started_at=_stamp(now))
    if not jobs.claim(uow.conn, row.id, runner, now, steps=json.dumps(steps)):
        return False
    uow.emit(JobAssigned(row.id, runner.id, runner.session_id))
    journal.record(
        uow, "job.assigned", "job %d assigned to runner %d %r", row.id, runner.id, runner.name,
        job_id=row.id, runner_id=runner.id, runner_name=runner.name,
    )  # fmt: skip
    hook_events.job_changed(uow, row.id, "in_progress", now)
    if row.run_id is not None:
        from runnerhub.domain import run_progress  # runs and jobs advance each other

        run_progress.started(uow, row.run_id, now)
    return True


def _at_max_parallel(uow: UnitOfWork, row: jobs.Candidate, message: str | None) -> bool:
    plan = json.loads(message or "{}").get("plan", {})
    limit, total = plan.get("maxParallel"), plan.get("jobTotal")
    if not limit or row.run_id is None or (total is not None and limit >= total):
        return False
    running = jobs.count_running(uow.conn, row.run_id, row.run_attempt, row.job_key)
    return running >= int(limit)


# -- what the agent sees and says


def message_for(uow: UnitOfWork, runner_id: int, *, deliver: bool = True) -> dict[str, Any] | None:
    """The message a poll of this runner answers: its new job (until acknowledged), or its
    job's cancellation (once: delivering it is a write; `deliver=False` only looks)."""
    held = jobs.held_by(uow.conn, runner_id)
    if held is None or held.status != "in_progress":
        return None
    if held.cancel_requested:
        if held.cancel_delivered:
            return None  # told once: polls are held again until the job ends
        if deliver:
            jobs.update_job(uow.conn, held.id, cancel_delivered=True)
        return {"messageId": held.id, "messageType": "JobCancellation", "body": {"jobId": held.id}}
    if held.acknowledged:
        return None
    body = json.loads(held.message or "{}")
    body.pop("plan", None)  # the server's own notes
    body = {"jobId": held.id, **body}
    return {"messageId": held.id, "messageType": "RunnerJobRequest", "body": body}


def acknowledge(uow: UnitOfWork, runner_id: int, job_id: int, now: datetime) -> None:
    row = _held(uow, runner_id, job_id)
    if not row.acknowledged:
        steps = _with_step(row.steps, 1, "completed", "success", now)
        jobs.update_job(uow.conn, job_id, acknowledged=True, steps=steps)


def record_logs(
    uow: UnitOfWork, runner_id: int, job_id: int, lines: Sequence[dict[str, Any]],
    steps: Sequence[dict[str, Any]],
) -> bool:  # fmt: skip
    """Keep each line once (by seq), up to the job's log limit; answer whether the job is
    to be cancelled."""
    row = _held(uow, runner_id, job_id)
    fresh = _fresh_lines(uow, job_id, lines)
    room = LOG_LIMIT_BYTES - int(row.log_bytes)
    kept, size = [], 0
    for line in fresh:
        size += len(line["text"].encode())
        if size > room:
            break
        kept.append(line)
    jobs.append_lines(uow.conn, job_id, kept, sum(len(x["text"].encode()) for x in kept))
    if steps:
        jobs.update_job(uow.conn, job_id, steps=_applied(row.steps, steps))
    return bool(row.cancel_requested)


def _fresh_lines(
    uow: UnitOfWork, job_id: int, lines: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    parsed = [_line(line) for line in lines]
    known = jobs.known_seqs(uow.conn, job_id, [line["seq"] for line in parsed])
    seen: set[int] = set()
    fresh = []
    for line in parsed:
        if line["seq"] not in known and line["seq"] not in seen:
            seen.add(line["seq"])
            fresh.append(line)
    return fresh


def _line(line: dict[str, Any]) -> dict[str, Any]:
    try:
        seq, step, text = int(line["seq"]), int(line.get("step", 0)), str(line["text"])
        moment = datetime.fromisoformat(str(line["time"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        raise ValidationFailed(
            "Invalid request.\n\nA log line has seq, step, time and text."
        ) from None
    if moment.tzinfo is None or not 0 < seq < 2**62:
        raise ValidationFailed("Invalid request.\n\nA log line has a bad seq or time.")
    return {"seq": seq, "step": step, "time": moment, "text": text.replace("\x00", "")}


def complete(
    uow: UnitOfWork, runner_id: int, job_id: int, conclusion: str, outputs: dict[str, Any],
    steps: Sequence[dict[str, Any]], now: datetime,
) -> None:  # fmt: skip
    """The runner reports its job done. A second report of a completed job is a no-op."""
    row = jobs.job(uow.conn, job_id, lock=True)
    if row is None or row.runner_id != runner_id:
        raise NotFound()
    if row.status == "completed":
        return
    if conclusion not in CONCLUSIONS - {"skipped"}:
        raise ValidationFailed("Invalid request.\n\nconclusion is success, failure or cancelled.")
    if steps:
        row = row._replace(steps=_applied(row.steps, steps))
    clean = {str(k): str(v) for k, v in (outputs or {}).items()}
    finish(uow, row, conclusion, now, outputs=clean)


def finish(
    uow: UnitOfWork, row: Any, conclusion: str, now: datetime, *,
    outputs: dict[str, str] | None = None, note: str | None = None, advance: bool = True,
) -> None:  # fmt: skip
    """Complete a job (`row` as read in this transaction), free its runner (an ephemeral one
    is removed), and move its run on (unless the caller is moving it on: `advance=False`)."""
    from runnerhub.domain import run_progress  # runs and jobs advance each other

    values: dict[str, Any] = {"status": "completed", "conclusion": conclusion, "completed_at": now,
                              "steps": _closed_steps(row, conclusion, now)}  # fmt: skip
    if outputs is not None:
        values["outputs"] = json.dumps(outputs)
    jobs.update_job(uow.conn, row.id, **values)
    journal.record(
        uow, "job.completed", "job %d completed: %s", row.id, conclusion,
        job_id=row.id, run_id=row.run_id, runner_id=row.runner_id, conclusion=conclusion,
    )  # fmt: skip
    hook_events.job_changed(uow, row.id, "completed", now)
    if note:
        _note(uow, row.id, note, now)
    retired = False
    if row.runner_id is not None:
        jobs.release(uow.conn, row.runner_id, row.id)
        retired = _retire_if_ephemeral(uow, row.runner_id)
    if row.run_id is not None and advance:
        run_progress.advance(uow, row.run_id, row.run_attempt, now, freed=_held_back_key(row))
    if row.runner_id is not None and not retired:
        # Free again: the oldest job it can take is its own at once, and wakes its poll.
        offer(uow, row.runner_id, now, DEFAULT_WINDOW)


def _held_back_key(row: Any) -> str | None:
    """The matrix whose jobs max-parallel may be holding back, now that one of them ended."""
    plan = json.loads(row.message or "{}").get("plan", {})
    limit, total = plan.get("maxParallel"), plan.get("jobTotal")
    return row.job_key if limit and total and limit < total else None


def _retire_if_ephemeral(uow: UnitOfWork, runner_id: int) -> bool:
    runner = jobs.runner_for_claim(uow.conn, runner_id)
    if runner is None or not runner.ephemeral:
        return runner is None
    runners.delete(uow.conn, runner.scope_id, runner_id)
    uow.emit(RunnerRemoved(runner_id, runner.session_id))
    journal.record(
        uow, "runner.removed", "ephemeral runner %d %r removed after its job", runner_id,
        runner.name, runner_id=runner_id, runner_name=runner.name,
    )  # fmt: skip
    return True


def request_cancel(uow: UnitOfWork, row: Any, now: datetime, *, advance: bool = True) -> None:
    """Cancel a job: at once if no runner runs it, else by telling its agent."""
    if row.status in ("pending", "waiting", "queued"):
        finish(uow, row, "cancelled", now, advance=advance)
    elif row.status == "in_progress" and not row.cancel_requested:
        jobs.update_job(uow.conn, row.id, cancel_requested=True)
        runner = jobs.runner_for_claim(uow.conn, row.runner_id) if row.runner_id else None
        uow.emit(JobCancelRequested(row.id, row.runner_id, runner.session_id if runner else None))


def fail_lost(uow: UnitOfWork, now: datetime, window: timedelta) -> int:
    """Jobs whose runner stopped answering: failed, as GitHub does."""
    ended = 0
    for found in jobs.lost(uow.conn, now - window):
        row = jobs.job(uow.conn, found.id, lock=True)  # ended meanwhile by another?
        if row is not None and row.status == "in_progress":
            finish(uow, row, "failure", now, note=LOST.format(name=row.runner_name or "unknown"))
            ended += 1
    return ended


def cancel_stale(uow: UnitOfWork, now: datetime) -> int:
    ended = 0
    for job_id in jobs.queued_before(uow.conn, now - QUEUE_LIMIT):
        row = jobs.job(uow.conn, job_id, lock=True)
        if row is not None and row.status == "queued":
            finish(uow, row, "cancelled", now)
            ended += 1
    return ended


def _held(uow: UnitOfWork, runner_id: int, job_id: int) -> Any:
    row = jobs.job(uow.conn, job_id)
    if row is None or row.runner_id != runner_id or row.status != "in_progress":
        raise NotFound("This runner does not hold that job.")
    return row


# -- steps and logs


def _applied(steps_json: str, reported: Sequence[dict[str, Any]]) -> str:
    """The job's steps with what the runner reported of them ("Set up job" is the server's)."""
    steps = {s["number"]: s for s in json.loads(steps_json)}
    for step in reported:
        number = step.get("number")
        if not isinstance(number, int) or number not in steps or number == 1:
            continue
        status = step.get("status")
        conclusion = step.get("conclusion")
        if status in ("in_progress", "completed"):
            steps[number]["status"] = status
        if conclusion in CONCLUSIONS:
            steps[number]["conclusion"] = conclusion
        for key, field in (("startedAt", "started_at"), ("completedAt", "completed_at")):
            if isinstance(step.get(key), str):
                steps[number][field] = step[key]
    return json.dumps(list(steps.values()))


def _with_step(
    steps_json: str, number: int, status: str, conclusion: str | None, now: datetime
) -> str:
    steps = json.loads(steps_json)
    for step in steps:
        if step["number"] == number:
            step["status"] = status
            step["conclusion"] = conclusion
            key = "started_at" if status == "in_progress" else "completed_at"
            step[key] = _stamp(now)
            if status == "completed" and not step.get("started_at"):
                step["started_at"] = _stamp(now)
    return json.dumps(steps)


def _closed_steps(row: jobs.JobRow, conclusion: str, now: datetime) -> str:
    """Steps the runner never finished end with the job: the running one and "Complete job"
    take its conclusion, the rest are skipped. A job no runner started shows no steps."""
    steps = json.loads(row.steps) if row.started_at is not None else []
    for step in steps:
        if step["status"] == "completed":
            continue
        ran = step["status"] == "in_progress" or step is steps[-1]
        step["status"], step["conclusion"] = "completed", conclusion if ran else "skipped"
        step["started_at"] = step.get("started_at") or _stamp(now)
        step["completed_at"] = _stamp(now)
    return json.dumps(steps)


def _note(uow: UnitOfWork, job_id: int, text: str, now: datetime) -> None:
    seq = 2**61 + len(jobs.log_lines(uow.conn, job_id))  # after anything the agent numbered
    line = {"seq": seq, "step": 0, "time": now, "text": f"##[error]{text}"}
    jobs.append_lines(uow.conn, job_id, [line], len(text))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- reading


def to_job(row: Any, run: Any) -> Job:
    steps = [
        JobStep(
            number=s["number"],
            name=s["name"],
            status=s["status"],
            conclusion=s.get("conclusion"),
            started_at=_parse(s.get("started_at")),
            completed_at=_parse(s.get("completed_at")),
        )
        for s in json.loads(row.steps)
    ]
    return Job(
        id=row.id,
        run_id=row.run_id,
        run_attempt=row.run_attempt,
        name=row.name,
        status="queued" if row.status == "pending" else row.status,
        conclusion=row.conclusion,
        head_sha=run.head_sha,
        head_branch=run.head_branch,
        workflow_name=run.name,
        labels=[str(x) for x in json.loads(row.labels)],
        runner_id=row.runner_id,
        runner_name=row.runner_name,
        runner_group_id=row.runner_group_id,
        runner_group_name=row.runner_group_name,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        steps=steps,
    )


def _parse(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text.replace("Z", "+00:00"))


def log_text(uow: UnitOfWork, job_id: int) -> str:
    """The job's log as GitHub serves it: one line per entry, each after its timestamp."""
    return "".join(f"{stamp_of(line)} {line.text}\n" for line in jobs.log_lines(uow.conn, job_id))


def stamp_of(line: Any) -> str:
    """GitHub's log timestamps: seven fractional digits and a Z."""
    return f"{line.time.strftime('%Y-%m-%dT%H:%M:%S.%f')}0Z"
