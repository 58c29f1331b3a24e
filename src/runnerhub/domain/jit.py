"""Just-in-time runners: created offline and ephemeral, handed over as one config blob.

The blob is GitHub's format, so the official runner's `run.sh --jitconfig` could read it: base64
of a JSON object mapping `.runner`, `.credentials` and `.credentials_rsaparams` to the base64 of
each file's content.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from runnerhub.domain import journal, runner_groups
from runnerhub.domain import labels as label_rules
from runnerhub.domain.keys import RunnerKey
from runnerhub.domain.models import Runner
from runnerhub.domain.runners import Clock, get_runner
from runnerhub.domain.scopes import Scope
from runnerhub.domain.text import check_text
from runnerhub.errors import Conflict
from runnerhub.runner_config import encode_jit_config
from runnerhub.storage import limits, runners
from runnerhub.storage.unit_of_work import UnitOfWork


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
    uow: UnitOfWork,
    scope: Scope,
    clock: Clock,
    request: JitRequest,
    key: RunnerKey,
    server_url: str,
) -> JitConfig:
    check_text(request.name, "Runner name", limits.RUNNER_NAME)
    check_text(request.work_folder, "Work folder", limits.WORK_FOLDER)
    label_rules.check_names(request.labels)
    taken = Conflict(f"Already exists - A runner with the name {request.name} already exists.")
    if runners.name_taken(uow.conn, scope.id, request.name):
        raise taken
    group_id = runner_groups.group_for_new_runner(uow, scope, request.runner_group_id)
    client_id = str(uuid.uuid4())
    try:
        runner_id = _insert(uow, scope, group_id, request, key, client_id, clock)
    except runners.NameTaken:
        raise taken from None
    label_rules.attach_initial(uow, scope, runner_id, request.labels)
    journal.record(
        uow, "runner.registered", "runner %d %r registered in %s (JIT)", runner_id,
        request.name, scope.name, runner_id=runner_id, runner_name=request.name,
        scope=scope.name, jit=True,
    )  # fmt: skip
    runner = get_runner(uow, scope, clock, runner_id)
    files = runner_files(runner, request, scope, key, client_id, server_url)
    return JitConfig(runner, encode_jit_config(files))


def _insert(
    uow: UnitOfWork,
    scope: Scope,
    group_id: int,
    request: JitRequest,
    key: RunnerKey,
    client_id: str,
    clock: Clock,
) -> int:
    return runners.insert(
        uow.conn,
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
    """The three files the runner keeps in its root directory, in the JIT config's form."""
    from runnerhub.runner_config import RunnerFiles, jit_files  # the one builder of these files

    server_url = server_url.rstrip("/")
    return jit_files(
        RunnerFiles(
            agent_id=runner.id,
            agent_name=runner.name,
            pool_id=request.runner_group_id,
            pool_name=None,
            server_url=server_url + "/",
            github_url=server_url + scope.html_path,
            work_folder=request.work_folder,
            ephemeral=True,
            client_id=client_id,
            authorization_url=f"{server_url}/_apis/oauth2/token/{client_id}",
            key=key.private_key,
        )
    )
