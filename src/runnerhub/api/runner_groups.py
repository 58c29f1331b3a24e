"""The runner-group endpoints, written once and mounted for organizations and enterprises.

`runner_group_operations(mount)` returns the family for one scope kind (13 operations; the
organization's also lists a group's GitHub-hosted runners, always none here). The app
mounts them at the root and under `/api/v3`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runnerhub.api import bodies_groups, pagination, wire, wire_accounts, wire_groups
from runnerhub.api.operations import Call, Operation, Reply
from runnerhub.api.scopes import SCOPE_MOUNTS, ScopeMount
from runnerhub.auth.permissions import RUNNER_GROUPS_READ, RUNNER_GROUPS_WRITE
from runnerhub.domain import runner_groups
from runnerhub.domain.scopes import ScopeKind

GROUP_DOCS = "https://docs.github.com/rest/actions/self-hosted-runner-groups"


# Per scope kind: the path segment of who may use a group, its id parameter, the word in
# GitHub's operationIds, the body key of set-access, and the list filter's parameter.
@dataclass(frozen=True, slots=True)
class Access:
    segment: str  # repositories | organizations
    param: str  # repository_id | org_id
    word: str  # repo | org
    key: str  # selected_repository_ids | selected_organization_ids
    visible_to: str  # visible_to_repository | visible_to_organization


ACCESS = {
    ScopeKind.ORGANIZATION: Access(
        "repositories", "repository_id", "repo", "selected_repository_ids",
        "visible_to_repository",
    ),
    ScopeKind.ENTERPRISE: Access(
        "organizations", "org_id", "org", "selected_organization_ids",
        "visible_to_organization",
    ),
}  # fmt: skip


def _access(call: Call) -> Access:
    return ACCESS[call.scope.kind]


def _number(call: Call) -> int:
    return int(call.path["runner_group_id"])


def _paged(call: Call, page: pagination.PageRequest, total: int, body: Any) -> Reply:
    reply = Reply(body)
    link = pagination.link_header(call.url, call.query, page, total)
    if link:
        reply.headers["Link"] = link
    return reply


def list_groups(call: Call) -> Reply:
    page = pagination.parse(call.query)
    visible_to = call.query.get(_access(call).visible_to) or None
    found = runner_groups.list_groups(
        call.uow, call.scope, visible_to=visible_to, per_page=page.per_page, page=page.page
    )
    shown = wire_groups.groups(found.groups, call.api_url, call.scope.kind)
    return _paged(call, page, found.total_count,
                  {"total_count": found.total_count, "runner_groups": shown})  # fmt: skip


def create_group(call: Call) -> Reply:
    spec = bodies_groups.group_spec(call.body, selected_key=_access(call).key)
    created = runner_groups.create_group(call.uow, call.scope, spec)
    return Reply(wire_groups.group(created, call.api_url, call.scope.kind), 201)


def get_group(call: Call) -> Reply:
    found = runner_groups.get_group(call.uow, call.scope, _number(call))
    return Reply(wire_groups.group(found, call.api_url, call.scope.kind))


def update_group(call: Call) -> Reply:
    required = call.scope.kind is ScopeKind.ORGANIZATION  # the enterprise's body is optional
    change = bodies_groups.group_change(call.body, name_required=required)
    found = runner_groups.update_group(call.uow, call.scope, _number(call), change)
    return Reply(wire_groups.group(found, call.api_url, call.scope.kind))


def delete_group(call: Call) -> Reply:
    runner_groups.delete_group(call.uow, call.scope, _number(call))
    return Reply(None, 204)


def list_access(call: Call) -> Reply:
    page = pagination.parse(call.query)
    found = runner_groups.list_access(
        call.uow, call.scope, _number(call), per_page=page.per_page, page=page.page
    )
    api, web = call.api_url, call.web_url
    if call.scope.kind is ScopeKind.ENTERPRISE:
        members = [wire_accounts.organization(org, api, web) for org in found.organizations]
        body = {"total_count": found.total_count, "organizations": members}
    else:
        repos = [wire_accounts.repository(repo, api, web) for repo in found.repositories]
        body = {"total_count": found.total_count, "repositories": repos}
    return _paged(call, page, found.total_count, body)


def set_access(call: Call) -> Reply:
    ids = bodies_groups.id_list(call.body, _access(call).key)
    runner_groups.set_access(call.uow, call.scope, _number(call), ids)
    return Reply(None, 204)


def add_access(call: Call) -> Reply:
    member = int(call.path[_access(call).param])
    runner_groups.add_access(call.uow, call.scope, _number(call), member)
    return Reply(None, 204)


def remove_access(call: Call) -> Reply:
    member = int(call.path[_access(call).param])
    runner_groups.remove_access(call.uow, call.scope, _number(call), member)
    return Reply(None, 204)


def list_runners(call: Call) -> Reply:
    page = pagination.parse(call.query)
    found = runner_groups.list_runners(
        call.uow, call.scope, call.clock, _number(call), per_page=page.per_page, page=page.page
    )
    body = {"total_count": found.total_count, "runners": wire.runners(found.runners)}
    return _paged(call, page, found.total_count, body)


def set_runners(call: Call) -> Reply:
    ids = bodies_groups.id_list(call.body, "runners")
    runner_groups.set_runners(call.uow, call.scope, _number(call), ids)
    return Reply(None, 204)


def add_runner(call: Call) -> Reply:
    runner_groups.add_runner(call.uow, call.scope, _number(call), int(call.path["runner_id"]))
    return Reply(None, 204)


def remove_runner(call: Call) -> Reply:
    runner_groups.remove_runner(call.uow, call.scope, _number(call), int(call.path["runner_id"]))
    return Reply(None, 204)


def list_hosted_runners(call: Call) -> Reply:
    """GitHub-hosted runners are not runnerhub's: every group has none, as on an account
    that has never had any (an unknown group is still 404)."""
    page = pagination.parse(call.query)
    runner_groups.get_group(call.uow, call.scope, _number(call))
    return _paged(call, page, 0, {"total_count": 0, "runners": []})


READ, WRITE = RUNNER_GROUPS_READ, RUNNER_GROUPS_WRITE
GROUP = "/{runner_group_id:id}"
ACCESS_LIST = GROUP + "/{m}"  # /repositories | /organizations
MEMBER = ACCESS_LIST + "/{{p}:id}"  # /{repository_id} | /{org_id}
RUNNERS = GROUP + "/runners"
RUNNER = RUNNERS + "/{runner_id:id}"
# (method, path below .../actions/runner-groups, handler, permission, operationId stem);
# in stems {g} is "self-hosted-runner-group" and {a} the scope's access word (repo, org).
FAMILY = (
    ("GET", "", list_groups, READ, "list-self-hosted-runner-groups-for-{s}"),
    ("POST", "", create_group, WRITE, "create-{g}-for-{s}"),
    ("GET", GROUP, get_group, READ, "get-{g}-for-{s}"),
    ("PATCH", GROUP, update_group, WRITE, "update-{g}-for-{s}"),
    ("DELETE", GROUP, delete_group, WRITE, "delete-{g}-from-{s}"),
    ("GET", ACCESS_LIST, list_access, READ, "list-{a}-access-to-{g}-in-{s}"),
    ("PUT", ACCESS_LIST, set_access, WRITE, "set-{a}-access-to-{g}-in-{s}"),
    ("PUT", MEMBER, add_access, WRITE, "add-{a}-access-to-{g}-in-{s}"),
    ("DELETE", MEMBER, remove_access, WRITE, "remove-{a}-access-to-{g}-in-{s}"),
    ("GET", RUNNERS, list_runners, READ, "list-self-hosted-runners-in-group-for-{s}"),
    ("PUT", RUNNERS, set_runners, WRITE, "set-self-hosted-runners-in-group-for-{s}"),
    ("PUT", RUNNER, add_runner, WRITE, "add-self-hosted-runner-to-group-for-{s}"),
    ("DELETE", RUNNER, remove_runner, WRITE, "remove-self-hosted-runner-from-group-for-{s}"),
)  # fmt: skip
ORGANIZATION_ONLY = (
    ("GET", GROUP + "/hosted-runners", list_hosted_runners, READ,
     "actions/list-github-hosted-runners-in-group-for-org"),
)  # fmt: skip


def _stem(stem: str, access: Access) -> str:
    return stem.replace("{g}", "self-hosted-runner-group").replace("{a}", access.word)


def runner_group_operations(mount: ScopeMount) -> list[Operation]:
    access = ACCESS[mount.kind]
    family = FAMILY + (ORGANIZATION_ONLY if mount.kind is ScopeKind.ORGANIZATION else ())
    return [
        Operation(
            method=method,
            path=f"{mount.prefix}/actions/runner-groups"
            + path.replace("{m}", access.segment).replace("{p}", access.param),
            handler=handler,
            permission=permission,
            operation_id=mount.operation_id(_stem(stem, access)),
            scope_kind=mount.kind,
            resolve=mount.resolve,
            docs_url=GROUP_DOCS,
        )
        for method, path, handler, permission, stem in family
    ]


def all_runner_group_operations() -> list[Operation]:
    """The family at every scope that has runner groups (organizations, enterprises)."""
    return [
        op
        for mount in SCOPE_MOUNTS
        if mount.kind in ACCESS
        for op in runner_group_operations(mount)
    ]
