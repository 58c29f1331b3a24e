"""Deployment environments of a repository, and the review of a run's pending deployments
(domain/environments.py)."""

from __future__ import annotations

from runnerhub.api import bodies_environments, pagination, wire_environments
from runnerhub.api.actions import REPO, RUN, RUNS_DOCS, _paged, _site, repository_operations
from runnerhub.api.operations import Call, Reply
from runnerhub.auth.permissions import ACTIONS_READ, DEPLOYMENT_REVIEWS, ENVIRONMENTS_WRITE
from runnerhub.domain import environments

ENVIRONMENTS_DOCS = "https://docs.github.com/rest/deployments/environments"


def list_environments(call: Call) -> Reply:
    page = pagination.parse(call.query)
    found, total = environments.list_environments(call.uow, call.scope, page.per_page, page.page)
    body = wire_environments.environments(found, total, _site(call))
    return _paged(call, Reply(body), page, total)


def get_environment(call: Call) -> Reply:
    found = environments.get_environment(call.uow, call.scope, call.path["environment_name"])
    return Reply(wire_environments.environment(found, _site(call)))


def put_environment(call: Call) -> Reply:
    change = bodies_environments.environment(call.body)
    found = environments.put_environment(
        call.uow, call.scope, call.path["environment_name"], change, call.clock.now
    )
    return Reply(wire_environments.environment(found, _site(call)))


def delete_environment(call: Call) -> Reply:
    environments.delete_environment(
        call.uow, call.scope, call.path["environment_name"], call.clock.now
    )
    return Reply(None, 204)


def get_pending_deployments(call: Call) -> Reply:
    user_id = call.principal.user_id if call.principal else None
    found = environments.pending(call.uow, call.scope, call.path["run_id"], user_id)
    site = _site(call)
    return Reply([wire_environments.pending_deployment(p, site) for p in found])


def review_pending_deployments(call: Call) -> Reply:
    asked = bodies_environments.review(call.body)
    assert call.principal is not None, "reviews need a user (the permission is not public)"
    made = environments.review(
        call.uow, call.scope, call.path["run_id"], asked.environment_ids, asked.state,
        asked.comment, call.principal.user_id, call.clock.now,
    )  # fmt: skip
    site = _site(call)
    return Reply([wire_environments.deployment(d, site) for d in made])


ENVIRONMENT = "/environments/{environment_name}"
R = ACTIONS_READ
ENVIRONMENTS = (
    ("GET", "/environments", list_environments, R, "get-all-environments"),
    ("GET", ENVIRONMENT, get_environment, R, "get-environment"),
    ("PUT", ENVIRONMENT, put_environment, ENVIRONMENTS_WRITE, "create-or-update-environment"),
    ("DELETE", ENVIRONMENT, delete_environment, ENVIRONMENTS_WRITE, "delete-an-environment"),
)
REVIEWS = (
    ("GET", f"{RUN}/pending_deployments", get_pending_deployments, R,
     "get-pending-deployments-for-run"),
    ("POST", f"{RUN}/pending_deployments", review_pending_deployments, DEPLOYMENT_REVIEWS,
     "review-pending-deployments-for-run"),
)  # fmt: skip
OPERATIONS = repository_operations((
    (REPO, "repos", ENVIRONMENTS_DOCS, ENVIRONMENTS),
    (REPO, "actions", RUNS_DOCS, REVIEWS),
))  # fmt: skip
