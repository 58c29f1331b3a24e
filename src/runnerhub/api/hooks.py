"""The webhook endpoints, written once and mounted for repositories and organizations.

`hook_operations(mount)` returns the family for one scope kind (12 for a repository, 11 for
an organization: GitHub has no test-push for organization hooks); the app mounts them at the
root and under `/api/v3`.
"""

from __future__ import annotations

from runnerhub.api import bodies_hooks, pagination, wire_hooks
from runnerhub.api.operations import Call, Operation, Reply
from runnerhub.api.scopes import SCOPE_MOUNTS, ScopeMount
from runnerhub.auth.permissions import HOOKS_READ, HOOKS_WRITE
from runnerhub.domain import webhooks
from runnerhub.domain.scopes import ScopeKind
from runnerhub.errors import ValidationFailed

HOOK_DOCS = "https://docs.github.com/rest/repos/webhooks"


def _hook_url(call: Call, hook_id: int) -> str:
    where = "repos" if call.scope.kind is ScopeKind.REPOSITORY else "orgs"
    return f"{call.api_url}/{where}/{call.scope.name}/hooks/{hook_id}"


def _sender(call: Call) -> int | None:
    return call.principal.user_id if call.principal is not None else None


def list_hooks(call: Call) -> Reply:
    page = pagination.parse(call.query)
    found, total = webhooks.list_hooks(call.uow, call.scope, page.per_page, page.page)
    reply = Reply([wire_hooks.hook(h, _hook_url(call, h.id)) for h in found])
    link = pagination.link_header(call.url, call.query, page, total)
    if link:
        reply.headers["Link"] = link
    return reply


def create_hook(call: Call) -> Reply:
    change = bodies_hooks.hook_create(call.body)
    found = webhooks.create_hook(call.uow, call.scope, change, call.clock.now, _sender(call))
    reply = Reply(wire_hooks.hook(found, _hook_url(call, found.id)), 201)
    reply.headers["Location"] = _hook_url(call, found.id)
    return reply


def get_hook(call: Call) -> Reply:
    found = webhooks.get_hook(call.uow, call.scope, call.path["hook_id"])
    return Reply(wire_hooks.hook(found, _hook_url(call, found.id)))


def update_hook(call: Call) -> Reply:
    change = bodies_hooks.hook_update(call.body)
    found = webhooks.update_hook(call.uow, call.scope, call.path["hook_id"], change,
                                 call.clock.now)  # fmt: skip
    return Reply(wire_hooks.hook(found, _hook_url(call, found.id)))


def delete_hook(call: Call) -> Reply:
    webhooks.delete_hook(call.uow, call.scope, call.path["hook_id"])
    return Reply(None, 204)


def get_config(call: Call) -> Reply:
    found = webhooks.get_hook(call.uow, call.scope, call.path["hook_id"])
    return Reply(wire_hooks.config(found))


def update_config(call: Call) -> Reply:
    change = bodies_hooks.config_update(call.body)
    found = webhooks.update_hook(call.uow, call.scope, call.path["hook_id"], change,
                                 call.clock.now)  # fmt: skip
    return Reply(wire_hooks.config(found))


def list_deliveries(call: Call) -> Reply:
    page = pagination.parse({k: v for k, v in call.query.items() if k == "per_page"})
    cursor = _cursor(call.query.get("cursor"))
    status = call.query.get("status")
    if status not in (None, "", "success", "failure"):
        raise ValidationFailed("Invalid request.\n\nstatus must be success or failure.")
    ok = None if not status else status == "success"
    found = webhooks.list_deliveries(call.uow, call.scope, call.path["hook_id"], cursor,
                                     page.per_page, ok)  # fmt: skip
    reply = Reply([wire_hooks.delivery_item(d) for d in found.deliveries])
    if found.next_cursor is not None:
        # GitHub pages deliveries by cursor: `Link: <…?cursor=…>; rel="next"`.
        params = f"per_page={page.per_page}&cursor={found.next_cursor}"
        if status:
            params += f"&status={status}"
        reply.headers["Link"] = f'<{call.url}?{params}>; rel="next"'
    return reply


def _cursor(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        raise ValidationFailed(f"Invalid request.\n\nInvalid property cursor: {raw!r}.")
    return int(raw)


def get_delivery(call: Call) -> Reply:
    hook_id, delivery_id = call.path["hook_id"], call.path["delivery_id"]
    found = webhooks.get_delivery(call.uow, call.scope, hook_id, delivery_id)
    url = f"{_hook_url(call, hook_id)}/deliveries/{delivery_id}"
    return Reply(wire_hooks.delivery(found, url))


def redeliver(call: Call) -> Reply:
    webhooks.redeliver(call.uow, call.scope, call.path["hook_id"], call.path["delivery_id"],
                       call.clock.now)  # fmt: skip
    return Reply({}, 202)


def ping(call: Call) -> Reply:
    webhooks.ping(call.uow, call.scope, call.path["hook_id"], call.clock.now, _sender(call))
    return Reply(None, 204)


def test_push(call: Call) -> Reply:
    webhooks.test_push(call.uow, call.scope, call.path["hook_id"])
    return Reply(None, 204)


READ, WRITE = HOOKS_READ, HOOKS_WRITE
ONE = "/{hook_id:id}"

# (method, path below .../hooks, handler, permission, operationId stem)
FAMILY = (
    ("GET", "", list_hooks, READ, "list-webhooks"),
    ("POST", "", create_hook, WRITE, "create-webhook"),
    ("GET", ONE, get_hook, READ, "get-webhook"),
    ("PATCH", ONE, update_hook, WRITE, "update-webhook"),
    ("DELETE", ONE, delete_hook, WRITE, "delete-webhook"),
    ("GET", f"{ONE}/config", get_config, READ, "get-webhook-config-for-{s}"),
    ("PATCH", f"{ONE}/config", update_config, WRITE, "update-webhook-config-for-{s}"),
    ("GET", f"{ONE}/deliveries", list_deliveries, READ, "list-webhook-deliveries"),
    ("GET", f"{ONE}/deliveries/{{delivery_id:id}}", get_delivery, READ, "get-webhook-delivery"),
    ("POST", f"{ONE}/deliveries/{{delivery_id:id}}/attempts", redeliver, WRITE,
     "redeliver-webhook-delivery"),
    ("POST", f"{ONE}/pings", ping, WRITE, "ping-webhook"),
)  # fmt: skip
REPOSITORY_ONLY = (("POST", f"{ONE}/tests", test_push, WRITE, "test-push-webhook"),)
NAMESPACE = {ScopeKind.REPOSITORY: "repos", ScopeKind.ORGANIZATION: "orgs"}


def hook_operations(mount: ScopeMount) -> list[Operation]:
    family = FAMILY + (REPOSITORY_ONLY if mount.kind is ScopeKind.REPOSITORY else ())
    return [
        Operation(
            method=method,
            path=f"{mount.prefix}/hooks{path}",
            handler=handler,
            permission=permission,
            operation_id=f"{NAMESPACE[mount.kind]}/{stem.format(s=mount.suffix)}",
            scope_kind=mount.kind,
            resolve=mount.resolve,
            docs_url=HOOK_DOCS,
        )
        for method, path, handler, permission, stem in family
    ]


def all_hook_operations() -> list[Operation]:
    return [op for mount in SCOPE_MOUNTS if mount.kind in NAMESPACE
            for op in hook_operations(mount)]  # fmt: skip
