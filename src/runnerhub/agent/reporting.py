"""One job's calls to the server (start, logs, complete), with the runner's access token and
the retries each needs: `start` and `complete` are retried until the server answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from runnerhub.agent.backoff import Backoff
from runnerhub.agent.client import Client
from runnerhub.agent.errors import AccessExpired, AgentError, Unreachable
from runnerhub.agent.session import Access, say

T = TypeVar("T")


class JobReporter:
    def __init__(self, client: Client, access: Access, job_id: int, max_backoff: float) -> None:
        self.client, self.access, self.job_id = client, access, job_id
        self.server_url = access.local.server_url
        self.max_backoff = max_backoff

    def start(self) -> None:
        """Raises JobGone when the job is not (or no longer) this runner's."""
        self._until_answered(
            lambda token: self.client.start_job(self.server_url, token, self.job_id)
        )

    def send_logs(self, lines: list[dict[str, Any]], steps: list[dict[str, Any]]) -> bool:
        """One attempt; True when the server asks to cancel. Raises Unreachable (try again),
        AccessExpired (try again, with the new token), JobGone or AgentError."""
        token = self.access.token()
        try:
            return self.client.post_logs(self.server_url, token, self.job_id, lines, steps)
        except AccessExpired:
            self.access.expired(token)
            raise

    def complete(
        self, conclusion: str, outputs: dict[str, str], steps: list[dict[str, Any]]
    ) -> None:
        def call(token: str) -> None:
            self.client.complete_job(
                self.server_url, token, self.job_id, conclusion, outputs, steps
            )

        try:
            self._until_answered(call)
        except AgentError as error:  # JobGone, or a refusal: the server answered, it is over
            say(f"job {self.job_id}: the server refused its completion: {error}")

    def _until_answered(self, call: Callable[[str], T]) -> T:
        backoff = Backoff(self.max_backoff)
        while True:
            token: str | None = None
            try:
                token = self.access.token()
                return call(token)
            except AccessExpired:
                if token is not None:
                    self.access.expired(token)
            except Unreachable as error:
                say(f"job {self.job_id}: {error}; retrying")
                backoff.sleep()
