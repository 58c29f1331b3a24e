"""Every runner operation, at every scope, under both prefixes, through the real server;
every body validated against GitHub's OpenAPI description."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.factories import World
from tests.helpers import ALL_SCOPES, checked, scope_path

PREFIXES = ("", "/api/v3")
KINDS = ("enterprise", "org", "repo")


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_runner_operation(client: httpx.Client, world: World, kind: str, prefix: str) -> None:
    admin = world.user()
    token = world.token(admin, scopes=ALL_SCOPES)
    _, base = scope_path(world, kind, admin)
    runners = f"{prefix}{base}/actions/runners"

    listed = checked(client, "GET", runners, 200, token).json()
    assert listed == {"total_count": 0, "runners": []}

    apps = checked(client, "GET", f"{runners}/downloads", 200, token).json()
    assert {(a["os"], a["architecture"]) for a in apps} >= {("linux", "x64"), ("win", "x64")}

    for purpose in ("registration-token", "remove-token"):
        issued = checked(client, "POST", f"{runners}/{purpose}", 201, token).json()
        assert re.fullmatch(r"[A-Z2-7]{29}", issued["token"])

    made = []
    for name in ("first", "second"):
        body = {"name": name, "runner_group_id": 1, "labels": ["self-hosted", "X64", "gpu"]}
        jit = checked(client, "POST", f"{runners}/generate-jitconfig", 201, token, json=body)
        made.append(jit.json()["runner"]["id"])
    first, second = made

    one = checked(client, "GET", f"{runners}/{first}", 200, token).json()
    assert (one["name"], one["status"], one["ephemeral"]) == ("first", "offline", True)

    page = checked(client, "GET", f"{runners}?per_page=1", 200, token)
    assert page.json()["total_count"] == 2
    assert 'rel="next"' in page.headers["Link"]

    labels = f"{runners}/{first}/labels"
    assert checked(client, "GET", labels, 200, token).json()["total_count"] == 3
    added = checked(client, "POST", labels, 200, token, json={"labels": ["big", "fast"]})
    assert {lb["name"] for lb in added.json()["labels"]} >= {"big", "fast"}
    replaced = checked(client, "PUT", labels, 200, token, json={"labels": ["only"]}).json()
    assert [lb["name"] for lb in replaced["labels"] if lb["type"] == "custom"] == ["only"]
    left = checked(client, "DELETE", f"{labels}/only", 200, token).json()
    assert all(lb["type"] == "read-only" for lb in left["labels"])
    checked(client, "POST", labels, 200, token, json={"labels": ["again"]})
    remaining = checked(client, "DELETE", labels, 200, token).json()
    assert [lb["name"] for lb in remaining["labels"]] == ["self-hosted", "X64"]

    checked(client, "DELETE", f"{runners}/{second}", 204, token)
    gone = client.get(f"{runners}/{second}", headers={"Authorization": f"token {token}"})
    assert gone.status_code == 404
    assert checked(client, "GET", runners, 200, token).json()["total_count"] == 1


@pytest.mark.parametrize("prefix", PREFIXES)
def test_way_in_endpoints_validate(client: httpx.Client, world: World, prefix: str) -> None:
    admin = world.user()
    token = world.token(admin, scopes=ALL_SCOPES)
    org = world.org(admin)
    repo = world.repo(org, private=True)
    checked(client, "GET", f"{prefix}/user", 200, token)
    checked(client, "GET", f"{prefix}/users/{admin}", 200, token)
    checked(client, "GET", f"{prefix}/users/{org}", 200, token)
    checked(client, "GET", f"{prefix}/orgs/{org}", 200, token)
    body = checked(client, "GET", f"{prefix}/repos/{repo}", 200, token).json()
    assert body["permissions"]["admin"] is True
    assert body["private"] is True
    checked(client, "GET", f"{prefix}/rate_limit", 200, token)
    checked(client, "GET", f"{prefix}/meta", 200, token)
