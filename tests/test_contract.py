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


# The `root` schema's required entries (GitHub's description of `GET /`, operation
# meta/root), which the filtered descriptions in shared/spec leave out.
ROOT_REQUIRED = [
    "current_user_url",
    "current_user_authorizations_html_url",
    "authorizations_url",
    "code_search_url",
    "commit_search_url",
    "emails_url",
    "emojis_url",
    "events_url",
    "feeds_url",
    "followers_url",
    "following_url",
    "gists_url",
    "issue_search_url",
    "issues_url",
    "keys_url",
    "label_search_url",
    "notifications_url",
    "organization_url",
    "organization_repositories_url",
    "organization_teams_url",
    "public_gists_url",
    "rate_limit_url",
    "repository_url",
    "repository_search_url",
    "current_user_repositories_url",
    "starred_url",
    "starred_gists_url",
    "user_url",
    "user_organizations_url",
    "user_repositories_url",
    "user_search_url",
]


@pytest.mark.parametrize("prefix", ["", "/api/v3"])
def test_the_api_index_names_every_url_and_the_tokens_scopes(
    client: httpx.Client, world: World, prefix: str
) -> None:
    token = world.token(world.user(), scopes=("repo", "read:org"))
    answer = client.get(f"{prefix}/", headers={"Authorization": f"token {token}"})
    assert answer.status_code == 200
    assert answer.headers["X-OAuth-Scopes"] == "read:org, repo"
    body = answer.json()
    assert sorted(body) == sorted(ROOT_REQUIRED)
    assert all(isinstance(url, str) for url in body.values())
    api = f"{client.base_url}".rstrip("/") + prefix
    assert body["repository_url"] == f"{api}/repos/{{owner}}/{{repo}}"
    assert body["current_user_url"] == f"{api}/user"
    assert client.get(body["current_user_url"], headers={"Authorization": f"token {token}"}).json()[
        "login"
    ]
    assert client.get(f"{prefix}/").status_code == 200  # anonymous too, as on GitHub
