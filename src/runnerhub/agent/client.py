"""The agent's side of the runner protocol, over HTTP (docs/runner-protocol.md)."""

from __future__ import annotations

import ssl
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from runnerhub import __version__
from runnerhub.agent import stop
from runnerhub.agent.errors import (
    AccessExpired,
    AgentError,
    JobGone,
    NameTaken,
    NotConfigured,
    SessionGone,
    SessionTaken,
    TokenRejected,
    Unreachable,
    WrongUrl,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The server holds a poll for at most 50 s; leave room for that and a slow answer.
TIMEOUT = httpx.Timeout(10.0, read=75.0)


def server_root(runner_url: str) -> str:
    parts = urlsplit(runner_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WrongUrl(f"{runner_url!r} is not an http(s) URL like http://HOST:PORT/ORG")
    return f"{parts.scheme}://{parts.netloc}"


class Client:
    """`ca_file`: the CAs an https server's certificate must chain to, instead of the system's
    (httpx's own default, which SSL_CERT_FILE also replaces)."""

    def __init__(
        self,
        root: str,
        transport: httpx.BaseTransport | None = None,
        ca_file: Path | None = None,
    ) -> None:
        headers = {"User-Agent": f"runnerhub-agent/{__version__}"}
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            try:
                verify = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as error:
                raise AgentError(f"cannot read the CA file {ca_file}: {error}") from None
        self.http = httpx.Client(
            timeout=TIMEOUT, headers=headers, transport=transport, verify=verify
        )
        self.root = root.rstrip("/")

    def close(self) -> None:
        self.http.close()

    def _send(
        self, method: str, url: str, *, closing: bool = False, **kwargs: Any
    ) -> httpx.Response:
        if not closing:
            stop.check()  # before each request: a signal whose Stop was dropped ends here
        try:
            return self.http.request(method, url, **kwargs)
        except httpx.TransportError as error:
            raise Unreachable(f"cannot reach {self.root}: {error}") from None

    # -- registration, with a registration or remove token (RemoteAuth)

    def trade_token(self, runner_url: str, token: str, event: str) -> str:
        response = self._send(
            "POST",
            f"{self.root}/actions/runner-registration",
            json={"url": runner_url, "runner_event": event},
            headers={"Authorization": f"RemoteAuth {token}"},
        )
        _raise_for_registration(response, runner_url)
        return str(response.json()["token"])

    def register(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._send(
            "POST",
            f"{self.root}/actions/runners/register",
            json=body,
            headers={"Authorization": f"RemoteAuth {token}"},
        )
        _raise_for_registration(response, body["url"])
        return dict(response.json())

    def remove(self, token: str, runner_url: str, runner_id: int) -> None:
        response = self._send(
            "DELETE",
            f"{self.root}/actions/runners/{runner_id}",
            json={"url": runner_url},
            headers={"Authorization": f"RemoteAuth {token}"},
        )
        if response.status_code == 404:
            return  # already gone on the server: nothing left to remove there
        _raise_for_registration(response, runner_url)

    # -- running, with the runner's own key

    def access_token(self, authorization_url: str, client_id: str, key: rsa.RSAPrivateKey) -> str:
        now = int(time.time())
        claims = {
            "sub": client_id,
            "iss": client_id,
            "aud": authorization_url,
            "iat": now,
            "nbf": now - 30,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        }
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            # The key object itself: PyJWT re-parses a PEM, with its costly checks, each time.
            "client_assertion": jwt.encode(claims, key, algorithm="RS256"),
        }
        response = self._send("POST", authorization_url, data=form)
        if response.status_code == 401:
            raise NotConfigured("the server no longer knows this runner: configure it again")
        _raise_for_status(response)
        return str(response.json()["access_token"])

    def create_session(self, server_url: str, token: str) -> str:
        response = self._send("POST", f"{server_url}_apis/runner/sessions", headers=_bearer(token))
        if response.status_code == 409:
            raise SessionTaken(_message(response))
        _raise_for_session(response)
        return str(response.json()["sessionId"])

    def delete_session(self, server_url: str, token: str, session_id: str) -> None:
        response = self._send(
            "DELETE",
            f"{server_url}_apis/runner/sessions/{session_id}",
            closing=True,
            headers=_bearer(token),
        )
        if response.status_code not in (204, 404):
            _raise_for_session(response)

    def poll(self, server_url: str, token: str, session_id: str) -> dict[str, Any] | None:
        """The next message (`{"messageId", "messageType": "RunnerJobRequest" or
        "JobCancellation", "body"}`), or None when the hold passed without one."""
        response = self._send(
            "GET",
            f"{server_url}_apis/runner/messages",
            params={"sessionId": session_id, "status": "Online"},
            headers=_bearer(token),
        )
        _raise_for_session(response)
        return dict(response.json()) if response.status_code == 200 and response.content else None

    # -- jobs (docs/runner-protocol.md section 6)

    def start_job(self, server_url: str, token: str, job_id: int) -> None:
        """Acknowledges the job. Raises JobGone (404) when it is not this runner's."""
        self._job_request(server_url, token, job_id, "start", {})

    def post_logs(
        self,
        server_url: str,
        token: str,
        job_id: int,
        lines: list[dict[str, Any]],
        steps: list[dict[str, Any]],
    ) -> bool:
        """Sends a batch of log lines and step states; True when a cancellation was asked."""
        body = {"lines": lines, "steps": steps}
        answer = self._job_request(server_url, token, job_id, "logs", body)
        return bool(answer.get("cancelRequested", False))

    def complete_job(
        self,
        server_url: str,
        token: str,
        job_id: int,
        conclusion: str,
        outputs: dict[str, str],
        steps: list[dict[str, Any]],
    ) -> None:
        body = {"conclusion": conclusion, "outputs": outputs, "steps": steps}
        self._job_request(server_url, token, job_id, "complete", body)

    def _job_request(
        self, server_url: str, token: str, job_id: int, action: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        response = self._send(
            "POST",
            f"{server_url}_apis/runner/jobs/{job_id}/{action}",
            json=body,
            headers=_bearer(token),
        )
        if response.status_code == 401:
            raise AccessExpired(_message(response))
        if response.status_code == 404:
            raise JobGone(_message(response))
        _raise_for_status(response)
        return dict(response.json()) if response.content else {}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return response.text or response.reason_phrase


def _raise_for_registration(response: httpx.Response, runner_url: str) -> None:
    status = response.status_code
    if status in (401, 403):
        raise TokenRejected(_message(response))
    if status == 404:
        raise WrongUrl(f"{_message(response)} (URL {runner_url})")
    if status == 409:
        raise NameTaken(f"{_message(response)} Use --replace to take it over.")
    _raise_for_status(response)


def _raise_for_session(response: httpx.Response) -> None:
    if response.status_code == 401:
        raise AccessExpired(_message(response))
    if response.status_code == 404:
        raise SessionGone(_message(response))
    _raise_for_status(response)


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 500:
        raise Unreachable(f"the server answered {response.status_code}: {_message(response)}")
    if response.status_code >= 400:
        raise AgentError(f"the server answered {response.status_code}: {_message(response)}")
