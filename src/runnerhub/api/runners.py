"""The self-hosted runner endpoints, written once and mounted at every scope.

`runner_operations(mount)` returns the 12 operations of the family for one scope kind; the
app mounts them for enterprises, organizations and repositories, at the root and under
`/api/v3`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from runnerhub.api import bodies, pagination, wire
from runnerhub.api.operations import RUNNER_DOCS, Call, Operation, Reply, Resolver
from runnerhub.auth.permissions import Permission
from runnerhub.domain import jit, labels, runner_tokens, runners
from runnerhub.domain.scopes import ScopeKind
from runnerhub.errors import NotFound

READ, WRITE = Permission.RUNNERS_READ, Permission.RUNNERS_WRITE
MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ScopeMount:
    kind: ScopeKind
    prefix: str  # "/orgs/{org}"
    resolve: Resolver
    suffix: str  # GitHub's operationId suffix: org, repo or enterprise
    namespace: str  # GitHub's operationId namespace: actions or enterprise-admin


def list_runners(call: Call) -> Reply:
    page = pagination.parse(call.query)
    name = call.query.get("name") or None
    found = runners.list_runners(
        call.conn, call.scope_or_fail, call.clock, name=name, per_page=page.per_page, page=page.page
    )
    body = {"total_count": found.total_count, "runners": [wire.runner(r) for r in found.runners]}
    reply = Reply(body)
    link = pagination.link_header(call.url, call.query, page, found.total_count)
    if link:
        reply.headers["Link"] = link
    return reply


def list_downloads(call: Call) -> Reply:
    return Reply([wire.application(app) for app in call.state.catalog])


def create_registration_token(call: Call) -> Reply:
    return _issue(call, runner_tokens.Purpose.REGISTRATION)


def create_remove_token(call: Call) -> Reply:
    return _issue(call, runner_tokens.Purpose.REMOVE)


def _issue(call: Call, purpose: runner_tokens.Purpose) -> Reply:
    ttl = timedelta(seconds=call.state.settings.runner_token_ttl_seconds)
    issued = runner_tokens.issue(call.conn, call.scope_or_fail, purpose, call.clock.now, ttl)
    return Reply(wire.issued_token(issued), 201)


def generate_jitconfig(call: Call) -> Reply:
    request = bodies.jit_request(bodies.json_object(call.body))
    assert call.runner_key is not None, "generate-jitconfig declares needs_runner_key"
    config = jit.generate_jitconfig(
        call.conn, call.scope_or_fail, call.clock, request, call.runner_key, call.web_url
    )
    body = {"runner": wire.runner(config.runner), "encoded_jit_config": config.encoded_jit_config}
    return Reply(body, 201)


def runner_id(call: Call) -> int:
    value = int(call.path["runner_id"])
    if value > MAX_ID:  # larger than any id a database column holds: no such runner
        raise NotFound()
    return value


def get_runner(call: Call) -> Reply:
    found = runners.get_runner(call.conn, call.scope_or_fail, call.clock, runner_id(call))
    return Reply(wire.runner(found))


def delete_runner(call: Call) -> Reply:
    runners.delete_runner(call.conn, call.scope_or_fail, runner_id(call))
    return Reply(None, 204)


def list_labels(call: Call) -> Reply:
    found = labels.list_labels(call.conn, call.scope_or_fail, runner_id(call))
    return Reply(wire.labels(found))


def add_labels(call: Call) -> Reply:
    names = bodies.label_names(bodies.json_object(call.body), min_items=1)
    found = labels.add_labels(call.conn, call.scope_or_fail, runner_id(call), names)
    return Reply(wire.labels(found))


def set_labels(call: Call) -> Reply:
    names = bodies.label_names(bodies.json_object(call.body), min_items=0)
    found = labels.set_labels(call.conn, call.scope_or_fail, runner_id(call), names)
    return Reply(wire.labels(found))


def remove_all_labels(call: Call) -> Reply:
    found = labels.remove_all_labels(call.conn, call.scope_or_fail, runner_id(call))
    return Reply(wire.labels(found))


def remove_label(call: Call) -> Reply:
    found = labels.remove_label(call.conn, call.scope_or_fail, runner_id(call), call.path["name"])
    return Reply(wire.labels(found))


# (method, path below .../actions/runners, handler, permission, operationId stem)
FAMILY = (
    ("GET", "", list_runners, READ, "list-self-hosted-runners-for-{s}"),
    ("GET", "/downloads", list_downloads, READ, "list-runner-applications-for-{s}"),
    ("POST", "/generate-jitconfig", generate_jitconfig, WRITE, "generate-runner-jitconfig-for-{s}"),
    ("POST", "/registration-token", create_registration_token, WRITE, "create-registration-token-for-{s}"),
    ("POST", "/remove-token", create_remove_token, WRITE, "create-remove-token-for-{s}"),
    ("GET", "/{runner_id:int}", get_runner, READ, "get-self-hosted-runner-for-{s}"),
    ("DELETE", "/{runner_id:int}", delete_runner, WRITE, "delete-self-hosted-runner-from-{s}"),
    ("GET", "/{runner_id:int}/labels", list_labels, READ, "list-labels-for-self-hosted-runner-for-{s}"),
    ("POST", "/{runner_id:int}/labels", add_labels, WRITE, "add-custom-labels-to-self-hosted-runner-for-{s}"),
    ("PUT", "/{runner_id:int}/labels", set_labels, WRITE, "set-custom-labels-for-self-hosted-runner-for-{s}"),
    ("DELETE", "/{runner_id:int}/labels", remove_all_labels, WRITE, "remove-all-custom-labels-from-self-hosted-runner-for-{s}"),
    ("DELETE", "/{runner_id:int}/labels/{name:path}", remove_label, WRITE, "remove-custom-label-from-self-hosted-runner-for-{s}"),
)  # fmt: skip


def runner_operations(mount: ScopeMount) -> list[Operation]:
    operations = []
    for method, path, handler, permission, stem in FAMILY:
        # GitHub files the enterprise JIT endpoint under `actions`, its siblings under
        # `enterprise-admin`.
        namespace = "actions" if handler is generate_jitconfig else mount.namespace
        operations.append(
            Operation(
                method=method,
                path=f"{mount.prefix}/actions/runners{path}",
                handler=handler,
                permission=permission,
                operation_id=f"{namespace}/{stem.format(s=mount.suffix)}",
                scope_kind=mount.kind,
                resolve=mount.resolve,
                docs_url=RUNNER_DOCS,
                needs_runner_key=handler is generate_jitconfig,
            )
        )
    return operations
