"""The agent's session with the server: an access token shared by every thread, and the long
poll, held in a background thread so that it goes on (as heartbeat and as the way a
cancellation arrives) while a job runs in the main thread."""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from runnerhub.agent.backoff import Backoff
from runnerhub.agent.client import Client
from runnerhub.agent.errors import (
    AccessExpired,
    AgentError,
    SessionGone,
    SessionTaken,
    Unreachable,
)
from runnerhub.runner_config import RunnerFiles

JOB_REQUEST = "RunnerJobRequest"
JOB_CANCELLATION = "JobCancellation"
# The server answers an unacknowledged job to every poll; a job seen again is not asked for
# again at once, so that polling does not spin while the agent acknowledges it.
REPEAT_PAUSE = 1.0


def say(message: str) -> None:
    print(f"runnerhub-agent: {message}", file=sys.stderr, flush=True)


class Access:
    """The runner's access token, fetched when first needed and again once it expired."""

    def __init__(self, client: Client, local: RunnerFiles) -> None:
        self.client, self.local = client, local
        self._lock = threading.Lock()
        self._token: str | None = None

    def token(self) -> str:
        with self._lock:
            if self._token is None:
                local = self.local
                self._token = self.client.access_token(
                    local.authorization_url, local.client_id, local.key
                )
            return self._token

    def expired(self, token: str) -> None:
        with self._lock:
            if self._token == token:  # not one another thread fetched meanwhile
                self._token = None

    def current(self) -> str | None:
        return self._token


class Online:
    """The session lives in the server's database, so it survives network errors and server
    restarts; the poller resumes polling it and opens a new one only when the server says it
    is gone. Job requests are queued for the main thread (`next_job`); cancellations go to
    `on_cancel` at once, since the main thread is busy with the job they cancel."""

    def __init__(self, client: Client, access: Access, backoff: Backoff) -> None:
        self.client, self.access, self.backoff = client, access, backoff
        self.local = access.local
        self.session_id: str | None = None
        self.on_cancel: Callable[[int], None] = lambda job_id: None
        self._jobs: queue.Queue[dict[str, Any] | BaseException] = queue.Queue()
        self._last_job: object = None
        # Closing and opening a session exclude each other, so none is opened after close.
        self._session_lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        threading.Thread(target=self._hold, name="poller", daemon=True).start()

    def next_job(self) -> dict[str, Any]:
        """The next RunnerJobRequest body; raises what ended the poller (NotConfigured...)."""
        item = self._jobs.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def _hold(self) -> None:
        try:
            while not self._closed:
                self._poll_until_interrupted()
        except BaseException as error:  # even Stop: the main thread decides, not this one
            self._jobs.put(error)

    def _poll_until_interrupted(self) -> None:
        token = ""
        try:
            # Inside: a server that answers 5xx (or a balancer with no instance up) while
            # the token is fetched is waited out like any other, not the end of the agent.
            token = self.access.token()
            session_id = self._open(token)
            while session_id is not None and not self._closed:
                message = self.client.poll(self.local.server_url, token, session_id)
                self.backoff.reset()
                if message is not None:
                    self._route(message)
        except AccessExpired:
            self.access.expired(token)
        except SessionGone:
            say("the server closed the session; opening a new one")
            self.session_id = None
        except (Unreachable, SessionTaken) as error:
            say(f"{error}; retrying")
            self.backoff.sleep()

    def _open(self, token: str) -> str | None:
        with self._session_lock:
            if self.session_id is None and not self._closed:
                self.session_id = self.client.create_session(self.local.server_url, token)
                say(f"runner {self.local.agent_name} is online")
            return self.session_id

    def _route(self, message: dict[str, Any]) -> None:
        body = message.get("body") or {}
        kind = message.get("messageType")
        if kind == JOB_CANCELLATION:
            self.on_cancel(int(body.get("jobId", 0)))
        elif kind == JOB_REQUEST:
            if body.get("jobId") == self._last_job:
                time.sleep(REPEAT_PAUSE)
            self._last_job = body.get("jobId")
            self._jobs.put(body)
        else:
            say(f"ignoring a message of type {kind!r}")

    def close(self) -> None:
        with self._session_lock:
            self._closed = True
        token = self.access.current()
        if token is not None and self.session_id is not None:
            # If this fails, the server sees the session go quiet and marks the runner offline.
            with contextlib.suppress(AgentError):
                self.client.delete_session(self.local.server_url, token, self.session_id)
