"""The endpoints clients call on their way to the runners: who am I, this organization,
this repository, my rate limit, this server."""

from __future__ import annotations

from typing import Any

from runnerhub.api import wire_accounts
from runnerhub.api.operations import Call, Operation, Reply, budget_of
from runnerhub.auth.permissions import AUTHENTICATED, PUBLIC
from runnerhub.domain import profiles


def get_authenticated_user(call: Call) -> Reply:
    assert call.principal is not None, "declared AUTHENTICATED"
    found = profiles.user_by_id(call.uow, call.principal.user_id)
    return Reply(wire_accounts.user(found, call.api_url, call.web_url, private=True))


def get_user(call: Call) -> Reply:
    found = profiles.user(call.uow, call.path["username"])
    return Reply(wire_accounts.user(found, call.api_url, call.web_url, private=False))


def get_org(call: Call) -> Reply:
    found = profiles.organization(call.uow, call.path["org"])
    return Reply(wire_accounts.organization(found, call.api_url, call.web_url))


def get_repo(call: Call) -> Reply:
    found = profiles.repository(call.uow, call.principal, call.path["owner"], call.path["repo"])
    return Reply(wire_accounts.repository(found, call.api_url, call.web_url))


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
    if call.request.api_version == "2022-11-28":
        body["rate"] = core_body
    return Reply(body, headers=core.headers())


def get_root(call: Call) -> Reply:
    # gh reads the token's scopes from this answer's X-OAuth-Scopes when it logs in.
    return Reply(wire_accounts.root(call.api_url, call.web_url))


def get_meta(call: Call) -> Reply:
    return Reply({"verifiable_password_authentication": False, "installed_version": "runnerhub"})


OPERATIONS = (
    Operation("GET", "/", get_root, PUBLIC, "meta/root"),
    Operation("GET", "/user", get_authenticated_user, AUTHENTICATED, "users/get-authenticated"),
    Operation("GET", "/users/{username}", get_user, PUBLIC, "users/get-by-username"),
    Operation("GET", "/orgs/{org}", get_org, PUBLIC, "orgs/get"),
    Operation("GET", "/repos/{owner}/{repo}", get_repo, PUBLIC, "repos/get"),
    Operation("GET", "/rate_limit", get_rate_limit, PUBLIC, "rate-limit/get", rate_limited=False),
    Operation("GET", "/meta", get_meta, PUBLIC, "meta/get"),
)
