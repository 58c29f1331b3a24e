"""Paging: following Link from the first page reaches every runner exactly once."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import World
from tests.helpers import auth


def follow(client: httpx.Client, url: str, token: str) -> tuple[list[int], int, int]:
    seen, pages, total = [], 0, -1
    next_url: str | None = url
    while next_url:
        response = client.get(next_url, headers=auth(token))
        assert response.status_code == 200, response.text
        body = response.json()
        total = body["total_count"]
        seen += [r["id"] for r in body["runners"]]
        pages += 1
        next_url = response.links.get("next", {}).get("url")
    return seen, pages, total


@pytest.mark.parametrize("count", [0, 1, 30, 31, 250])
@pytest.mark.parametrize("per_page", [None, 100])
def test_link_reaches_every_runner_once(
    client: httpx.Client, world: World, count: int, per_page: int | None
) -> None:
    admin = world.user()
    org = world.org(admin)
    ids = world.runners(world.scope("org", org), count)
    token = world.token(admin, scopes=["admin:org"])
    query = "" if per_page is None else f"?per_page={per_page}"
    seen, pages, total = follow(client, f"/orgs/{org}/actions/runners{query}", token)
    assert total == count
    assert seen == ids
    size = per_page or 30
    assert pages == max((count + size - 1) // size, 1)


def test_link_header_shape(client: httpx.Client, world: World) -> None:
    admin = world.user()
    org = world.org(admin)
    world.runners(world.scope("org", org), 5)
    token = world.token(admin, scopes=["admin:org"])
    single = client.get(f"/orgs/{org}/actions/runners", headers=auth(token))
    assert "Link" not in single.headers
    middle = client.get(f"/orgs/{org}/actions/runners?per_page=2&page=2", headers=auth(token))
    links = middle.links
    assert set(links) == {"prev", "next", "last", "first"}
    assert links["last"]["url"].endswith("per_page=2&page=3")
    assert links["first"]["url"].startswith(str(client.base_url))
    ghes = client.get(f"/api/v3/orgs/{org}/actions/runners?per_page=2", headers=auth(token))
    assert "/api/v3/orgs/" in ghes.links["next"]["url"]


def test_per_page_rules(client: httpx.Client, world: World) -> None:
    admin = world.user()
    org = world.org(admin)
    world.runners(world.scope("org", org), 3)
    token = world.token(admin, scopes=["admin:org"])
    path = f"/orgs/{org}/actions/runners"
    capped = client.get(f"{path}?per_page=1000", headers=auth(token))
    assert capped.status_code == 200
    assert len(capped.json()["runners"]) == 3
    for bad in ("per_page=0", "per_page=-1", "per_page=abc", "page=0"):
        assert client.get(f"{path}?{bad}", headers=auth(token)).status_code == 422
    beyond = client.get(f"{path}?page=9", headers=auth(token)).json()
    assert beyond == {"total_count": 3, "runners": []}


def test_name_filter_is_exact_and_case_insensitive(client: httpx.Client, world: World) -> None:
    admin = world.user()
    org = world.org(admin)
    token = world.token(admin, scopes=["admin:org"])
    body = {"name": "Build-Box", "runner_group_id": 1, "labels": ["x"]}
    client.post(f"/orgs/{org}/actions/runners/generate-jitconfig", json=body, headers=auth(token))
    world.runners(world.scope("org", org), 2)
    found = client.get(f"/orgs/{org}/actions/runners?name=build-box", headers=auth(token)).json()
    assert [r["name"] for r in found["runners"]] == ["Build-Box"]
    assert found["total_count"] == 1
    partial = client.get(f"/orgs/{org}/actions/runners?name=build", headers=auth(token)).json()
    assert partial["total_count"] == 0
