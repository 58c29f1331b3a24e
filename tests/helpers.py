"""Shared test helpers: authenticated requests and scope paths."""

from __future__ import annotations

from typing import Any

import httpx

from tests.contract import validate
from tests.factories import World

ALL_SCOPES = ("repo", "admin:org", "manage_runners:enterprise")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def scope_path(world: World, kind: str, admin: str) -> tuple[str, str]:
    """(scope kind for factories, URL prefix) of a fresh scope administered by `admin`."""
    if kind == "enterprise":
        slug = world.enterprise(admin)
        return slug, f"/enterprises/{slug}"
    if kind == "org":
        org = world.org(admin)
        return org, f"/orgs/{org}"
    repo = world.repo(admin)
    return repo, f"/repos/{repo}"


def checked(
    client: httpx.Client, method: str, path: str, status: int, token: str, **kwargs: Any
) -> httpx.Response:
    """Send a request, assert its status, and validate its body against the OpenAPI spec."""
    response = client.request(method, path, headers=auth(token), **kwargs)
    assert response.status_code == status, (method, path, response.status_code, response.text)
    validate(path.split("?")[0], method, status, response.json() if response.content else None)
    return response
