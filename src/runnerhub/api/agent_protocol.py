"""The runner protocol: how an agent registers, authenticates, holds its session and leaves.

Shapes follow the official runner's registration flow where GitHub has one
(`POST /actions/runner-registration` with `Authorization: RemoteAuth TOKEN`). Documented with
examples in docs/runner-protocol.md.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from runnerhub.api import bodies, wire
from runnerhub.api.operations import Call, Operation, Reply
from runnerhub.auth.permissions import RUNNER_CREDENTIALS, RUNNER_SESSION, RUNNER_TOKEN
from runnerhub.domain import agent_sessions, jobs, registration, runners
from runnerhub.domain.registration import EVENTS, Registration
from runnerhub.domain.runner_tokens import Purpose
from runnerhub.errors import BadRequest, ValidationFailed


def _remote_auth(call: Call) -> str:
    assert call.passed.runner_token is not None, "the gate read the RemoteAuth token"
    return call.passed.runner_token


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        raise ValidationFailed(f"Invalid request.\n\n`{key}` must be a non-empty string.")
    return value


def trade_token(call: Call) -> Reply:
    body = bodies.json_object(call.body)
    event = _text(body, "runner_event", "register")
    if event not in EVENTS:
        raise ValidationFailed("Invalid request.\n\n`runner_event` is register or remove.")
    token = _remote_auth(call)
    registration.redeem(call.uow, token, EVENTS[event], _text(body, "url"), call.clock.now)
    reply = {
        "url": call.web_url,
        "token_schema": "OAuthAccessToken",
        "token": token,
        "use_v2_flow": True,
    }
    return Reply(reply)


def register_runner(call: Call) -> Reply:
    body = bodies.json_object(call.body)
    now = call.clock.now
    scope = registration.redeem(
        call.uow, _remote_auth(call), Purpose.REGISTRATION, _text(body, "url"), now
    )
    request = Registration(
        url=_text(body, "url"),
        name=_text(body, "name"),
        public_key=_text(body, "public_key"),
        labels=_names(body, "labels"),
        read_only_labels=_names(body, "read_only_labels"),
        runner_group=_text(body, "runner_group", "Default"),
        ephemeral=body.get("ephemeral") is True,
        replace=body.get("replace") is True,
        work_folder=_text(body, "work_folder", "_work"),
        os=_text(body, "os", "linux"),
        version=body.get("version") if isinstance(body.get("version"), str) else None,
    )
    done = registration.register(call.uow, scope, request, now)
    runner = runners.get_runner(call.uow, scope, call.clock, done.runner_id)
    base = call.web_url
    authorization = {
        "authorization_url": f"{base}/_apis/oauth2/token/{done.client_id}",
        "server_url": base + "/",
        "client_id": done.client_id,
    }
    return Reply({**wire.runner(runner), "authorization": authorization}, 201)


def _names(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(f"Invalid request.\n\n`{key}` must be a list of strings.")
    return value


def remove_runner(call: Call) -> Reply:
    body = bodies.json_object(call.body)
    scope = registration.redeem(
        call.uow, _remote_auth(call), Purpose.REMOVE, _text(body, "url"), call.clock.now
    )
    registration.remove(call.uow, scope, call.path["runner_id"])
    return Reply(None, 204)


def exchange_assertion(call: Call) -> Reply:
    form = {k: v[0] for k, v in parse_qs(call.body.decode(errors="replace")).items()}
    if form.get("grant_type") != "client_credentials" or (
        form.get("client_assertion_type") != agent_sessions.ASSERTION_TYPE
    ):
        raise BadRequest("unsupported_grant_type: use client_credentials with a JWT assertion")
    token, expires_in = agent_sessions.issue_access_token(
        call.uow,
        call.path["client_id"],
        form.get("client_assertion", ""),
        call.url,
        call.clock.now,
    )
    return Reply({"access_token": token, "token_type": "bearer", "expires_in": expires_in})


def create_session(call: Call) -> Reply:
    session_id = agent_sessions.open_session(
        call.uow, call.runner_id, call.clock.now, call.clock.offline_after
    )
    return Reply({"sessionId": session_id, "runnerId": call.runner_id}, 201)


def delete_session(call: Call) -> Reply:
    agent_sessions.close_session(call.uow, call.runner_id, call.path["session_id"])
    return Reply(None, 204)


def poll_messages(call: Call) -> Reply:
    """The long poll that is also the heartbeat. It answers 200 with a message — the job
    the runner was given, or its cancellation — or 202 with none within the hold; it is
    woken at once when the runner is given a job, changes, is removed or its session closes
    (domain/events.py)."""
    session_id = call.query.get("sessionId", "")
    runner_id, clock = call.runner_id, call.clock
    agent_sessions.beat(call.uow, runner_id, session_id, clock.now)
    jobs.offer(call.uow, runner_id, clock.now, clock.offline_after)
    message = jobs.message_for(call.uow, runner_id)
    if message is not None:
        return Reply(message)
    state = call.state

    async def pending() -> dict[str, Any] | None:
        # A look first (a read); a write only when there is a message to hand over.
        seen = await state.db.run(lambda uow: jobs.message_for(uow, runner_id, deliver=False),
                                  write=False)  # fmt: skip
        if seen is None:
            return None
        return await state.db.run(lambda uow: jobs.message_for(uow, runner_id), write=True)

    async def wait() -> Reply:
        # Listen first, then look once more: a job given between this request's commit and
        # now woke nobody, but is found here.
        listener = state.mailboxes.listen(session_id)
        found = await pending()
        if found is None and await listener.wait(state.settings.long_poll_seconds):
            found = await pending()
        listener.close()
        return Reply(found) if found is not None else Reply(None, 202)

    return Reply(None, 202, then=wait)


def start_job(call: Call) -> Reply:
    jobs.acknowledge(call.uow, call.runner_id, call.path["job_id"], call.clock.now)
    agent_sessions.touch(call.uow, call.runner_id, call.clock.now)
    return Reply({})


def post_job_logs(call: Call) -> Reply:
    body = bodies.json_object(call.body)
    lines, steps = _records(body, "lines"), _records(body, "steps")
    cancel = jobs.record_logs(call.uow, call.runner_id, call.path["job_id"], lines, steps)
    agent_sessions.touch(call.uow, call.runner_id, call.clock.now)
    return Reply({"cancelRequested": cancel})


def complete_job(call: Call) -> Reply:
    body = bodies.json_object(call.body)
    outputs = body.get("outputs") or {}
    if not isinstance(outputs, dict):
        raise ValidationFailed("Invalid request.\n\n`outputs` must be an object.")
    jobs.complete(
        call.uow, call.runner_id, call.path["job_id"], str(body.get("conclusion")), outputs,
        _records(body, "steps"), call.clock.now,
    )  # fmt: skip
    return Reply({})


def _records(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValidationFailed(f"Invalid request.\n\n`{key}` must be a list of objects.")
    return value


TOKEN, CREDENTIALS, SESSION = RUNNER_TOKEN, RUNNER_CREDENTIALS, RUNNER_SESSION
JOBS = "/_apis/runner/jobs/{job_id:id}"

OPERATIONS = (
    Operation("POST", "/actions/runner-registration", trade_token, TOKEN, "runner/trade-token"),
    Operation("POST", "/actions/runners/register", register_runner, TOKEN, "runner/register"),
    Operation("DELETE", "/actions/runners/{runner_id:id}", remove_runner, TOKEN, "runner/remove"),
    Operation(
        "POST",
        "/_apis/oauth2/token/{client_id}",
        exchange_assertion,
        CREDENTIALS,
        "runner/get-access-token",
    ),
    Operation("POST", "/_apis/runner/sessions", create_session, SESSION, "runner/create-session"),
    Operation(
        "DELETE",
        "/_apis/runner/sessions/{session_id}",
        delete_session,
        SESSION,
        "runner/delete-session",
    ),
    Operation(
        "GET", "/_apis/runner/messages", poll_messages, SESSION, "runner/get-message", records=True
    ),
    Operation("POST", f"{JOBS}/start", start_job, SESSION, "runner/start-job"),
    Operation("POST", f"{JOBS}/logs", post_job_logs, SESSION, "runner/post-job-logs"),
    Operation("POST", f"{JOBS}/complete", complete_job, SESSION, "runner/complete-job"),
)
