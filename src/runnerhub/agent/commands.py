"""config, run and remove: what `runnerhub-agent` does."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runnerhub import __version__
from runnerhub.agent import files, host
from runnerhub.agent.backoff import Backoff
from runnerhub.agent.client import Client, server_root
from runnerhub.agent.errors import AgentError, AlreadyConfigured
from runnerhub.agent.jobs import Agent, take_job
from runnerhub.agent.session import Access, Online
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
    ca_file: Path | None = None


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
    client = Client(server_root(options.url), ca_file=options.ca_file)
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


def run(
    directory: Path,
    max_backoff: float,
    log_interval: float = 1.0,
    transport: httpx.BaseTransport | None = None,
    ca_file: Path | None = None,
) -> int:
    """Online until stopped, running the jobs the server sends; an ephemeral runner returns
    after its one job. `log_interval`: the least time between two log batches of a job."""
    local = files.read(directory)
    root = server_root(local.github_url)
    client = Client(root, transport, ca_file)
    online = Online(client, Access(client, local), Backoff(max_backoff))
    try:
        online.start()
        take_jobs(Agent(online, directory, root, max_backoff, log_interval))
        return 0
    except Stop as stop:
        if online.session_id is not None:
            say(f"{stop}: closing the session")
        return 0
    finally:
        online.close()
        client.close()


def take_jobs(agent: Agent) -> None:
    """Runs the jobs the server sends, one at a time; returns after the first when the
    runner is ephemeral."""
    taken: set[int] = set()
    while True:
        job = agent.online.next_job()
        job_id = int(job["jobId"])
        if job_id in taken:
            continue  # sent again before the server saw it acknowledged: it runs once
        taken.add(job_id)
        if take_job(agent, job) and agent.online.local.ephemeral:
            return


def remove(
    directory: Path, token: str | None, local_only: bool, ca_file: Path | None = None
) -> int:
    if not local_only:
        if not token:
            raise AgentError("remove needs --token TOKEN (a remove token), or --local")
        local = files.read(directory)
        client = Client(server_root(local.github_url), ca_file=ca_file)
        try:
            remote = client.trade_token(local.github_url, token, "remove")
            client.remove(remote, local.github_url, local.agent_id)
        finally:
            client.close()
        say(f"runner {local.agent_name} is removed from the server")
    if files.remove(directory):
        say(f"removed the local configuration in {directory}")
    return 0
