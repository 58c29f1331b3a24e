"""Registration and removal of runners with registration and remove tokens.

The flow follows the official runner's: the agent trades its token at
`POST /actions/runner-registration` (naming the scope by its web URL and the event,
`register` or `remove`), then registers with its own RSA public key, or removes itself.
A registration token may register any number of runners within its lifetime; any token works
only for its own scope and purpose.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from runnerhub.auth.secrets import hash_token
from runnerhub.domain import journal, runner_groups, scopes
from runnerhub.domain import labels as label_rules
from runnerhub.domain import runners as runner_rules
from runnerhub.domain.events import RunnerRemoved
from runnerhub.domain.runner_tokens import Purpose
from runnerhub.domain.scopes import Scope
from runnerhub.domain.text import check_text
from runnerhub.errors import Conflict, Forbidden, NotFound, Unauthorized
from runnerhub.storage import agents, limits, runners, tokens
from runnerhub.storage import labels as label_rows
from runnerhub.storage.unit_of_work import UnitOfWork

EVENTS = {"register": Purpose.REGISTRATION, "remove": Purpose.REMOVE}


@dataclass(frozen=True, slots=True)
class Registration:
    url: str
    name: str
    public_key: str
    labels: list[str]
    read_only_labels: list[str]
    runner_group: str = "Default"
    ephemeral: bool = False
    replace: bool = False
    work_folder: str = "_work"
    os: str = "linux"
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Registered:
    runner_id: int
    scope: Scope
    client_id: str


def scope_of_url(uow: UnitOfWork, url: str) -> Scope:
    """The scope a runner URL names, as config.sh reads it: /ORG, /OWNER/REPO or
    /enterprises/SLUG."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    scope = None
    if len(parts) == 2 and parts[0].lower() == "enterprises":
        scope = scopes.enterprise(uow, parts[1])
    elif len(parts) == 1:
        scope = scopes.organization(uow, parts[0])
    elif len(parts) == 2:
        scope = scopes.repository(uow, parts[0], parts[1])
    if scope is None:
        raise NotFound(f"No organization, repository or enterprise at {url}.")
    return scope


def redeem(uow: UnitOfWork, token: str, purpose: Purpose, url: str, now: datetime) -> Scope:
    """Check a registration or remove token against the scope it is used for."""
    row = tokens.runner_token_by_hash(uow.conn, hash_token(token))
    if row is None:
        raise Unauthorized(f"The {purpose.value} token is not valid.")
    if row.expires_at <= now:
        raise Unauthorized(f"The {purpose.value} token has expired; create a new one.")
    if row.purpose != purpose.value:
        raise Forbidden(f"This is a {row.purpose} token, not a {purpose.value} token.")
    scope = scope_of_url(uow, url)
    if scope.id != row.scope_id:
        raise Forbidden(f"The {purpose.value} token is not valid for {url}.")
    return scope


def register(uow: UnitOfWork, scope: Scope, request: Registration, now: datetime) -> Registered:
    check_registration(request)
    conn = uow.conn
    group_id = runner_groups.group_named(uow, scope, request.runner_group)
    if group_id is None:
        raise NotFound(f"No runner group named {request.runner_group!r}.")
    client_id = str(uuid.uuid4())
    existing = agents.runner_by_name(conn, scope.id, request.name)
    if existing is not None and not request.replace:
        raise Conflict(f"Already exists - A runner with the name {request.name} already exists.")
    if existing is not None:
        runner_id = int(existing.id)
        agents.reconfigure(
            conn, runner_id, group_id=group_id, os=request.os, version=request.version,
            ephemeral=request.ephemeral, work_folder=request.work_folder,
            public_key=request.public_key, client_id=client_id,
        )  # fmt: skip
        label_rows.detach(conn, runner_id, [lb.id for lb in label_rows.of_runner(conn, runner_id)])
        # The agent that held the replaced registration is told it is gone.
        uow.emit(RunnerRemoved(runner_id, existing.session_id))
    else:
        runner_groups.with_room(uow, group_id)
        runner_id = runners.insert(
            conn, scope_id=scope.id, group_id=group_id, name=request.name, os=request.os,
            ephemeral=request.ephemeral, work_folder=request.work_folder,
            public_key=request.public_key, client_id=client_id, now=now,
        )  # fmt: skip
        agents.set_version(conn, runner_id, request.version)
    label_rules.attach(uow, scope, runner_id, request.read_only_labels, request.labels)
    verb = "replaced" if existing is not None else "registered"
    journal.record(
        uow, f"runner.{verb}", "runner %d %r %s in %s", runner_id, request.name, verb,
        scope.name, runner_id=runner_id, runner_name=request.name, scope=scope.name,
    )  # fmt: skip
    return Registered(runner_id, scope, client_id)


def check_registration(request: Registration) -> None:
    label_rules.check_names(request.labels + request.read_only_labels)
    check_text(request.name, "Runner name", limits.RUNNER_NAME)
    check_text(request.work_folder, "Work folder", limits.WORK_FOLDER)
    check_text(request.os, "OS", limits.RUNNER_OS)
    if request.version is not None:
        check_text(request.version, "Version", limits.RUNNER_VERSION)


def remove(uow: UnitOfWork, scope: Scope, runner_id: int) -> None:
    """Remove a runner of the remove token's scope (busy or not: it is the runner leaving)."""
    row = runners.one(uow.conn, scope.id, runner_id) if limits.is_id(runner_id) else None
    if row is None:
        raise NotFound(f"No runner {runner_id} in {scope.name}.")
    runner_rules.remove(uow, scope, row)
