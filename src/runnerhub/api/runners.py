"""The self-hosted runner endpoints, written once and mounted at every scope.

`runner_operations(mount)` returns the 12 operations of the family for one scope kind; the
app mounts them for enterprises, organizations and repositories (api/scopes.py), at the root
and under `/api/v3`.
"""

from __future__ import annotations

from datetime import timedelta

from runnerhub.api import bodies, pagination, wire
from runnerhub.api.operations import RUNNER_DOCS, Call, Operation, Reply
from runnerhub.api.scopes import ScopeMount
from runnerhub.auth.permissions import RUNNERS_READ, RUNNERS_WRITE
from runnerhub.domain import jit, labels, runner_tokens, runners


def list_runners(call: Call) -> Reply:
    page = pagination.parse(call.query)
    name = call.query.get("name") or None
    found = runners.list_runners(
        call.uow, call.scope, call.clock, name=name, per_page=page.per_page, page=page.page
    )
    body = {"total_count": found.total_count, "runners": wire.runners(found.runners)}
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
    issued = runner_tokens.issue(call.uow, call.scope, purpose, call.clock.now, ttl)
    return Reply(wire.issued_token(issued), 201)


def generate_jitconfig(call: Call) -> Reply:
    request = bodies.jit_request(bodies.json_object(call.body))
    assert call.runner_key is not None, "generate-jitconfig declares needs_runner_key"
    config = jit.generate_jitconfig(
        call.uow, call.scope, call.clock, request, call.runner_key, call.web_url
    )
    body = {"runner": wire.runner(config.runner), "encoded_jit_config": config.encoded_jit_config}
    return Reply(body, 201)


def get_runner(call: Call) -> Reply:
    found = runners.get_runner(call.uow, call.scope, call.clock, call.path["runner_id"])
    return Reply(wire.runner(found))


def delete_runner(call: Call) -> Reply:
    runners.delete_runner(call.uow, call.scope, call.path["runner_id"])
    return Reply(None, 204)


def list_labels(call: Call) -> Reply:
    found = labels.list_labels(call.uow, call.scope, call.path["runner_id"])
    return Reply(wire.labels(found))


def add_labels(call: Call) -> Reply:
    names = bodies.label_names(bodies.json_object(call.body), min_items=1)
    found = labels.add_labels(call.uow, call.scope, call.path["runner_id"], names)
    return Reply(wire.labels(found))


def set_labels(call: Call) -> Reply:
    names = bodies.label_names(bodies.json_object(call.body), min_items=0)
    found = labels.set_labels(call.uow, call.scope, call.path["runner_id"], names)
    return Reply(wire.labels(found))


def remove_all_labels(call: Call) -> Reply:
    found = labels.remove_all_labels(call.uow, call.scope, call.path["runner_id"])
    return Reply(wire.labels(found))


def remove_label(call: Call) -> Reply:
    found = labels.remove_label(call.uow, call.scope, call.path["runner_id"], call.path["name"])
    return Reply(wire.labels(found))


READ, WRITE = RUNNERS_READ, RUNNERS_WRITE
KEY = True  # the handler needs a fresh RSA key (api/operations.py makes or pools it)

# (method, path below .../actions/runners, handler, permission, operationId stem, needs a key)
# GitHub files the enterprise JIT endpoint under `actions`, its siblings under
# `enterprise-admin`: the stem names its namespace when it differs from the scope's.
FAMILY = (
    ("GET", "", list_runners, READ, "list-self-hosted-runners-for-{s}", False),
    ("GET", "/downloads", list_downloads, READ, "list-runner-applications-for-{s}", False),
    ("POST", "/generate-jitconfig", generate_jitconfig, WRITE, "actions/generate-runner-jitconfig-for-{s}", KEY),
    ("POST", "/registration-token", create_registration_token, WRITE, "create-registration-token-for-{s}", False),
    ("POST", "/remove-token", create_remove_token, WRITE, "create-remove-token-for-{s}", False),
    ("GET", "/{runner_id:id}", get_runner, READ, "get-self-hosted-runner-for-{s}", False),
    ("DELETE", "/{runner_id:id}", delete_runner, WRITE, "delete-self-hosted-runner-from-{s}", False),
    ("GET", "/{runner_id:id}/labels", list_labels, READ, "list-labels-for-self-hosted-runner-for-{s}", False),
    ("POST", "/{runner_id:id}/labels", add_labels, WRITE, "add-custom-labels-to-self-hosted-runner-for-{s}", False),
    ("PUT", "/{runner_id:id}/labels", set_labels, WRITE, "set-custom-labels-for-self-hosted-runner-for-{s}", False),
    ("DELETE", "/{runner_id:id}/labels", remove_all_labels, WRITE, "remove-all-custom-labels-from-self-hosted-runner-for-{s}", False),
    ("DELETE", "/{runner_id:id}/labels/{name:path}", remove_label, WRITE, "remove-custom-label-from-self-hosted-runner-for-{s}", False),
)  # fmt: skip


def runner_operations(mount: ScopeMount) -> list[Operation]:
    return [
        Operation(
            method=method,
            path=f"{mount.prefix}/actions/runners{path}",
            handler=handler,
            permission=permission,
            operation_id=mount.operation_id(stem),
            scope_kind=mount.kind,
            resolve=mount.resolve,
            docs_url=RUNNER_DOCS,
            needs_runner_key=needs_key,
        )
        for method, path, handler, permission, stem, needs_key in FAMILY
    ]
