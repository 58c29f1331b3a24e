"""The endpoints clients call on their way to the runners: who am I, this organization,
this repository, my rate limit, this server."""

from __future__ import annotations

from typing import Any

from runnerhub.api import wire_accounts
from runnerhub.api.operations import Call, Operation, Reply, budget_of
from runnerhub.auth.permissions import Permission, repository_permissions, visible_role
from runnerhub.errors import NotFound
from runnerhub.storage import accounts

PUBLIC, AUTHENTICATED = Permission.PUBLIC, Permission.AUTHENTICATED


def _public_repos(call: Call, owner_id: int) -> int:
    return accounts.public_repo_count(call.conn, owner_id)


def get_authenticated_user(call: Call) -> Reply:
    assert call.principal is not None, "declared AUTHENTICATED"
    row = accounts.account_by_id(call.conn, call.principal.user_id)
    assert row is not None
    count = _public_repos(call, row.id)
    return Reply(
        wire_accounts.user(row, call.api_url, call.web_url, private=True, public_repos=count)
    )


def get_user(call: Call) -> Reply:
    row = accounts.account_by_login(call.conn, call.path["username"])
    if row is None:
        raise NotFound()
    count = _public_repos(call, row.id)
    return Reply(
        wire_accounts.user(row, call.api_url, call.web_url, private=False, public_repos=count)
    )


def get_org(call: Call) -> Reply:
    row = accounts.account_by_login(call.conn, call.path["org"])
    if row is None or row.type != "Organization":
        raise NotFound()
    count = _public_repos(call, row.id)
    return Reply(wire_accounts.organization(row, call.api_url, call.web_url, count))


def get_repo(call: Call) -> Reply:
    owner, name = call.path["owner"], call.path["repo"]
    scope = accounts.repository_scope(call.conn, owner, name)
    if scope is None:
        raise NotFound()
    role = visible_role(call.conn, call.principal, scope)
    row = accounts.repository(call.conn, owner, name)
    owner_row = accounts.account_by_id(call.conn, scope.owner_id or 0)
    assert row is not None
    assert owner_row is not None
    permissions = None if call.principal is None else repository_permissions(role, scope)
    body = wire_accounts.repository(row, owner_row, call.api_url, call.web_url, permissions)
    return Reply(body)


def get_rate_limit(call: Call) -> Reply:
    core = budget_of(call)
    limit = core.limit
    core_body = {
        "limit": core.limit,
        "used": core.used,
        "remaining": core.remaining,
        "reset": core.reset,
    }
    idle = {"limit": limit, "used": 0, "remaining": limit, "reset": core.reset}
    resources: dict[str, Any] = {
        "core": core_body,
        "search": idle,
        "graphql": idle,
        "actions_runner_registration": idle,
    }
    body: dict[str, Any] = {"resources": resources}
    if call.api_version == "2022-11-28":
        body["rate"] = core_body
    return Reply(body, headers=core.headers())


def get_meta(call: Call) -> Reply:
    return Reply({"verifiable_password_authentication": False, "installed_version": "runnerhub"})


OPERATIONS = (
    Operation("GET", "/user", get_authenticated_user, AUTHENTICATED, "users/get-authenticated"),
    Operation("GET", "/users/{username}", get_user, PUBLIC, "users/get-by-username"),
    Operation("GET", "/orgs/{org}", get_org, PUBLIC, "orgs/get"),
    Operation("GET", "/repos/{owner}/{repo}", get_repo, PUBLIC, "repos/get"),
    Operation("GET", "/rate_limit", get_rate_limit, PUBLIC, "rate-limit/get", rate_limited=False),
    Operation("GET", "/meta", get_meta, PUBLIC, "meta/get"),
)
