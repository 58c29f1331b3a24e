"""config, run and remove: what `runnerhub-agent` does."""

from __future__ import annotations

import contextlib
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runnerhub import __version__
from runnerhub.agent import files, host
from runnerhub.agent.client import Client, server_root
from runnerhub.agent.errors import (
    AccessExpired,
    AgentError,
    AlreadyConfigured,
    SessionGone,
    SessionTaken,
    Unreachable,
)
from runnerhub.agent.stop import Stop
from runnerhub.runner_config import RunnerFiles, config_files, decode_jit_config, parse_files


def say(message: str) -> None:
    print(f"runnerhub-agent: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class ConfigOptions:
    url: str
    token: str
    name: str
    labels: list[str]
    no_default_labels: bool
    runner_group: str
    work: str
    ephemeral: bool
    replace: bool


def configure(directory: Path, options: ConfigOptions) -> int:
    if files.configured(directory) and not options.replace:
        # The official runner's refusal: registering again would orphan the first runner.
        raise AlreadyConfigured(
            "Cannot configure the runner because it is already configured. To reconfigure "
            "the runner, run `runnerhub-agent remove` first (or configure with --replace)."
        )
    if options.no_default_labels and not options.labels:
        raise AgentError(
            "Disabling default labels via --no-default-labels without specifying --labels "
            "is not supported"
        )
    read_only = [] if options.no_default_labels else host.default_labels()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    client = Client(server_root(options.url))
    try:
        token = client.trade_token(options.url, options.token, "register")
        registered = client.register(
            token,
            {
                "url": options.url,
                "name": options.name,
                "labels": [lb for lb in options.labels if lb.lower() not in
                           {r.lower() for r in read_only}],
                "read_only_labels": read_only,
                "runner_group": options.runner_group,
                "ephemeral": options.ephemeral,
                "replace": options.replace,
                "work_folder": options.work,
                "os": host.os_name(),
                "version": __version__,
                "public_key": public_pem.decode(),
            },
        )  # fmt: skip
    finally:
        client.close()
    files.write(directory, config_files(_registered_files(options, registered, key)))
    say(f"runner {registered['name']} (id {registered['id']}) is configured")
    return 0


def _registered_files(
    options: ConfigOptions, registered: dict[str, Any], key: rsa.RSAPrivateKey
) -> RunnerFiles:
    authorization = registered["authorization"]
    return RunnerFiles(
        agent_id=int(registered["id"]),
        agent_name=registered["name"],
        pool_id=int(registered.get("runner_group_id", 1)),
        pool_name=options.runner_group,
        server_url=authorization["server_url"],
        github_url=options.url,
        work_folder=options.work,
        ephemeral=options.ephemeral,
        client_id=authorization["client_id"],
        authorization_url=authorization["authorization_url"],
        key=key,
    )


def start_from_jit_config(directory: Path, blob: str) -> None:
    """Writes the blob's files as they are, as the official runner does."""
    try:
        documents = decode_jit_config(blob)
        parse_files(documents)  # refuse a blob `run` could not use
    except ValueError as error:
        raise AgentError(str(error)) from None
    files.write(directory, documents)


class Backoff:
    """Exponential with jitter, capped: 1 s, 2 s, 4 s ... up to `cap`."""

    def __init__(self, cap: float) -> None:
        self.cap, self.attempt = cap, 0

    def sleep(self) -> None:
        delay = min(self.cap, 2.0**self.attempt) * random.uniform(0.5, 1.0)
        self.attempt += 1
        time.sleep(delay)

    def reset(self) -> None:
        self.attempt = 0


def run(directory: Path, max_backoff: float) -> int:
    local = files.read(directory)
    client = Client(server_root(local.github_url))
    online = Online(client, local)
    try:
        online.hold(Backoff(max_backoff))
    except Stop as stop:
        if online.session_id is not None:
            say(f"{stop}: closing the session")
        online.close()
        return 0
    finally:
        client.close()


class Online:
    """The agent's session with the server. It lives in the server's database, so it
    survives network errors and server restarts; the agent resumes polling it and opens a
    new one only when the server says it is gone."""

    def __init__(self, client: Client, local: RunnerFiles) -> None:
        self.client, self.local = client, local
        self.token: str | None = None
        self.session_id: str | None = None

    def hold(self, backoff: Backoff) -> NoReturn:
        while True:
            try:
                self._poll_forever(backoff)
            except AccessExpired:
                self.token = None
            except SessionGone:
                say("the server closed the session; opening a new one")
                self.session_id = None
            except (Unreachable, SessionTaken) as error:
                say(f"{error}; retrying")
                backoff.sleep()

    def _poll_forever(self, backoff: Backoff) -> None:
        local = self.local
        if self.token is None:
            self.token = self.client.access_token(
                local.authorization_url, local.client_id, local.key
            )
        if self.session_id is None:
            self.session_id = self.client.create_session(local.server_url, self.token)
            say(f"runner {local.agent_name} is online")
        while True:
            self.client.poll(local.server_url, self.token, self.session_id)
            backoff.reset()

    def close(self) -> None:
        if self.token is not None and self.session_id is not None:
            _close_quietly(self.client, self.local, self.token, self.session_id)


def _close_quietly(client: Client, local: RunnerFiles, token: str, session_id: str) -> None:
    # If this fails, the server sees the session go quiet and marks the runner offline.
    with contextlib.suppress(AgentError):
        client.delete_session(local.server_url, token, session_id)


def remove(directory: Path, token: str | None, local_only: bool) -> int:
    if not local_only:
        if not token:
            raise AgentError("remove needs --token TOKEN (a remove token), or --local")
        local = files.read(directory)
        client = Client(server_root(local.github_url))
        try:
            remote = client.trade_token(local.github_url, token, "remove")
            client.remove(remote, local.github_url, local.agent_id)
        finally:
            client.close()
        say(f"runner {local.agent_name} is removed from the server")
    if files.remove(directory):
        say(f"removed the local configuration in {directory}")
    return 0
