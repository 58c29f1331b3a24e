"""Just-in-time runners: created offline and ephemeral, handed over as one config blob.

The blob is GitHub's format, so the official runner's `run.sh --jitconfig` could read it: base64
of a JSON object mapping `.runner`, `.credentials` and `.credentials_rsaparams` to the base64 of
each file's content.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from runnerhub.domain import labels as label_rules
from runnerhub.domain.keys import RunnerKey
from runnerhub.domain.models import Runner
from runnerhub.domain.runners import Clock, get_runner
from runnerhub.domain.scopes import Scope
from runnerhub.errors import Conflict, NotFound
from runnerhub.runner_config import encode_jit_config
from runnerhub.storage import runners


@dataclass(frozen=True, slots=True)
class JitRequest:
    name: str
    runner_group_id: int
    labels: list[str]
    work_folder: str = "_work"


@dataclass(frozen=True, slots=True)
class JitConfig:
    runner: Runner
    encoded_jit_config: str


def generate_jitconfig(
    conn: Connection,
    scope: Scope,
    clock: Clock,
    request: JitRequest,
    key: RunnerKey,
    server_url: str,
) -> JitConfig:
    label_rules.check_names(request.labels)
    taken = Conflict(f"Already exists - A runner with the name {request.name} already exists.")
    if runners.name_taken(conn, scope.id, request.name):
        raise taken
    group_id = runners.group_id(conn, scope.id, request.runner_group_id)
    if group_id is None:
        raise NotFound()
    client_id = str(uuid.uuid4())
    try:
        runner_id = _insert(conn, scope, group_id, request, key, client_id, clock)
    except runners.NameTaken:
        raise taken from None
    label_rules.attach_initial(conn, scope, runner_id, request.labels)
    runner = get_runner(conn, scope, clock, runner_id)
    files = runner_files(runner, request, scope, key, client_id, server_url)
    return JitConfig(runner, encode_jit_config(files))


def _insert(
    conn: Connection,
    scope: Scope,
    group_id: int,
    request: JitRequest,
    key: RunnerKey,
    client_id: str,
    clock: Clock,
) -> int:
    return runners.insert(
        conn,
        scope_id=scope.id,
        group_id=group_id,
        name=request.name,
        os="unknown",
        ephemeral=True,
        work_folder=request.work_folder,
        public_key=key.public_pem(),
        client_id=client_id,
        now=clock.now,
    )


def runner_files(
    runner: Runner,
    request: JitRequest,
    scope: Scope,
    key: RunnerKey,
    client_id: str,
    server_url: str,
) -> dict[str, dict[str, object]]:
    """The three files the runner keeps in its root directory."""
    server_url = server_url.rstrip("/")
    settings: dict[str, object] = {
        "AgentId": str(runner.id),
        "AgentName": runner.name,
        "PoolId": str(request.runner_group_id),
        "PoolName": None,
        "ServerUrl": server_url + "/",
        "GitHubUrl": server_url + scope.html_path,
        "WorkFolder": request.work_folder,
        "Ephemeral": True,
        "DisableUpdate": True,
        "UseV2Flow": True,
        "ServerUrlV2": server_url + "/",
    }
    credentials: dict[str, object] = {
        "Scheme": "OAuth",
        "Data": {
            "clientId": client_id,
            "authorizationUrl": f"{server_url}/_apis/oauth2/token/{client_id}",
            "requireFipsCryptography": "False",
        },
    }
    return {
        ".runner": settings,
        ".credentials": credentials,
        ".credentials_rsaparams": {**key.rsa_parameters()},
    }
