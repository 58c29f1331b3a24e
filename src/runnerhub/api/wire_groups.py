"""Response bodies of the runner-group endpoints, shaped as GitHub's `runner-groups-org`
and `runner-groups-enterprise` schemas."""

from __future__ import annotations

from typing import Any

from runnerhub.domain.runner_groups import RunnerGroup
from runnerhub.domain.scopes import ScopeKind

GHES_PREFIX = "/api/v3"


def group_url(api_url: str, g: RunnerGroup) -> str:
    owner = "enterprises" if g.owner_kind is ScopeKind.ENTERPRISE else "orgs"
    return f"{api_url}/{owner}/{g.owner_name}/actions/runner-groups/{g.id}"


def group(g: RunnerGroup, api_url: str, seen_from: ScopeKind) -> dict[str, Any]:
    """`seen_from` the organization, a group carries `inherited` (and, inherited,
    `inherited_allows_public_repositories`); its workflow restrictions are read-only there
    when the enterprise set them."""
    url = group_url(api_url, g)
    body: dict[str, Any] = {
        "id": g.id,
        "name": g.name,
        "visibility": g.visibility,
        "default": g.default,
    }
    if g.visibility == "selected":  # "Not present unless visibility was set to `selected`"
        members = "organizations" if g.owner_kind is ScopeKind.ENTERPRISE else "repositories"
        body[f"selected_{members}_url"] = f"{url}/{members}"
    body["runners_url"] = f"{url}/runners"
    # Hosted runners are listed per organization, and not on GHES (whose schema lacks this).
    if g.owner_kind is ScopeKind.ORGANIZATION and not api_url.endswith(GHES_PREFIX):
        body["hosted_runners_url"] = f"{url}/hosted-runners"
    if seen_from is ScopeKind.ORGANIZATION:
        body["inherited"] = g.inherited
        if g.inherited:
            body["inherited_allows_public_repositories"] = g.allows_public_repositories
    body |= {
        "allows_public_repositories": g.allows_public_repositories,
        "workflow_restrictions_read_only": g.inherited,
        "restricted_to_workflows": g.restricted_to_workflows,
        "selected_workflows": list(g.selected_workflows),
    }
    return body


def groups(found: list[RunnerGroup], api_url: str, seen_from: ScopeKind) -> list[dict[str, Any]]:
    return [group(g, api_url, seen_from) for g in found]
