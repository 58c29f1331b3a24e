"""Label semantics: per-scope ids, case-insensitive sets, read-only versus custom."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.factories import World
from tests.helpers import auth


@pytest.fixture
def runner(world: World) -> dict[str, str]:
    admin = world.user()
    org = world.org(admin)
    ids = world.runners(world.scope("org", org), 2)
    token = world.token(admin, scopes=["admin:org"])
    base = f"/orgs/{org}/actions/runners"
    return {
        "token": token,
        "labels": f"{base}/{ids[0]}/labels",
        "other": f"{base}/{ids[1]}/labels",
        "org": org,
    }


def call(client: httpx.Client, method: str, path: str, token: str, **kw: object) -> httpx.Response:
    return client.request(method, path, headers=auth(token), **kw)  # type: ignore[arg-type]


def names(response: httpx.Response) -> dict[str, str]:
    return {lb["name"]: lb["type"] for lb in response.json()["labels"]}


def test_add_is_idempotent_case_insensitive_and_keeps_display_case(
    client: httpx.Client, runner: dict[str, str]
) -> None:
    path, token = runner["labels"], runner["token"]
    first = call(client, "POST", path, token, json={"labels": ["GPU", "gpu", "linux"]})
    assert first.status_code == 200
    assert names(first) == {
        "self-hosted": "read-only",
        "Linux": "read-only",
        "X64": "read-only",
        "GPU": "custom",
    }
    again = call(client, "POST", path, token, json={"labels": ["gpu"]})
    assert again.json() == first.json()


def test_same_name_same_id_across_runners(client: httpx.Client, runner: dict[str, str]) -> None:
    token = runner["token"]
    a = call(client, "POST", runner["labels"], token, json={"labels": ["shared"]}).json()
    b = call(client, "POST", runner["other"], token, json={"labels": ["SHARED"]}).json()
    id_a = next(lb["id"] for lb in a["labels"] if lb["name"] == "shared")
    id_b = next(lb["id"] for lb in b["labels"] if lb["name"] == "shared")
    assert id_a == id_b


def test_set_replaces_custom_and_empty_removes_all(
    client: httpx.Client, runner: dict[str, str]
) -> None:
    path, token = runner["labels"], runner["token"]
    call(client, "POST", path, token, json={"labels": ["a", "b"]})
    replaced = call(client, "PUT", path, token, json={"labels": ["c"]})
    assert [n for n, t in names(replaced).items() if t == "custom"] == ["c"]
    emptied = call(client, "PUT", path, token, json={"labels": []})
    assert all(t == "read-only" for t in names(emptied).values())
    assert emptied.json()["total_count"] == 3


def test_remove_all_returns_read_only(client: httpx.Client, runner: dict[str, str]) -> None:
    path, token = runner["labels"], runner["token"]
    call(client, "POST", path, token, json={"labels": ["a", "b"]})
    left = call(client, "DELETE", path, token)
    assert names(left) == {"self-hosted": "read-only", "Linux": "read-only", "X64": "read-only"}


def test_remove_one(client: httpx.Client, runner: dict[str, str]) -> None:
    path, token = runner["labels"], runner["token"]
    call(client, "POST", path, token, json={"labels": ["keep", "Drop/Me"]})
    removed = call(client, "DELETE", f"{path}/drop%2Fme", token)
    assert removed.status_code == 200
    assert "Drop/Me" not in names(removed)
    absent = call(client, "DELETE", f"{path}/never-there", token)
    assert absent.status_code == 404
    read_only = call(client, "DELETE", f"{path}/self-hosted", token)
    assert read_only.status_code == 422
    assert "self-hosted" in names(call(client, "GET", path, token))


@pytest.mark.parametrize(
    ("method", "labels"),
    [
        ("POST", []),
        ("POST", [""]),
        ("POST", ["a,b"]),
        ("POST", ["x" * 257]),
        ("POST", [f"l{i}" for i in range(101)]),
        ("PUT", [f"l{i}" for i in range(101)]),
        ("POST", "gpu"),
        ("POST", [1]),
    ],
)
def test_invalid_label_requests_change_nothing(
    client: httpx.Client, runner: dict[str, str], method: str, labels: object
) -> None:
    path, token = runner["labels"], runner["token"]
    before = call(client, "GET", path, token).json()
    response = call(client, method, path, token, json={"labels": labels})
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith("Invalid request.")
    assert call(client, "GET", path, token).json() == before


def test_missing_labels_key(client: httpx.Client, runner: dict[str, str]) -> None:
    response = call(client, "POST", runner["labels"], runner["token"], json={"label": ["x"]})
    assert response.status_code == 422
    assert response.json()["message"] == (
        "Invalid request.\n\nInvalid input: object is missing required key: labels."
    )


def test_label_of_256_characters_is_fine(client: httpx.Client, runner: dict[str, str]) -> None:
    name = "k=" + "v" * 254
    response = call(client, "POST", runner["labels"], runner["token"], json={"labels": [name]})
    assert response.status_code == 200
    assert name in names(response)


def test_twenty_concurrent_label_changes_lose_nothing(
    server: object, runner: dict[str, str]
) -> None:
    path, token = runner["labels"], runner["token"]
    url = server.url  # type: ignore[attr-defined]

    def add(i: int) -> int:
        with httpx.Client(base_url=url, timeout=30) as http:
            response = http.post(path, json={"labels": [f"c{i}"]}, headers=auth(token))
            return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(add, range(20)))
    assert statuses == [200] * 20
    with httpx.Client(base_url=url) as http:
        final = names(http.get(path, headers=auth(token)))
    assert {f"c{i}" for i in range(20)} <= set(final)


def test_runner_lists_show_each_runners_own_labels_in_id_order(
    client: httpx.Client, world: World
) -> None:
    """The lists read labels with the runners, in one query (storage/runners.py): each
    runner shows what its own labels endpoint shows, in id order, whatever the order its
    labels were attached in, on every page (later pages are read from the end)."""
    admin = world.user()
    org = world.org(admin)
    scope = world.scope("org", org)
    bare = world.runners(scope, 1, labels=())[0]
    ids = [*world.runners(scope, 5), bare]
    token = world.token(admin, scopes=["admin:org"])
    base = f"/orgs/{org}/actions/runners"

    def post(runner_id: int, method: str, labels: list[str]) -> None:
        path = f"{base}/{runner_id}/labels"
        assert call(client, method, path, token, json={"labels": labels}).status_code == 200

    post(ids[0], "POST", ["zeta", 'quo"te\\d', "ünïcødé ☃", "k=v"])
    post(ids[1], "POST", ["alpha"])  # made after zeta: a larger id, attached first
    post(ids[1], "POST", ["ZETA"])
    post(ids[2], "PUT", [])
    post(ids[3], "POST", ["alpha", "zeta"])
    own = {i: call(client, "GET", f"{base}/{i}/labels", token).json()["labels"] for i in ids}
    assert own[bare] == []
    assert [lb["name"] for lb in own[ids[1]]][-2:] == ["zeta", "alpha"]
    for labels in own.values():
        assert [lb["id"] for lb in labels] == sorted(lb["id"] for lb in labels)
    group = f"/orgs/{org}/actions/runner-groups/1/runners"
    for path in (base, group):
        for per_page in (2, 4, 100):
            listed: dict[int, object] = {}
            for page in (1, 2, 3):
                query = {"per_page": per_page, "page": page}
                response = client.get(path, params=query, headers=auth(token))
                assert response.status_code == 200
                listed |= {r["id"]: r["labels"] for r in response.json()["runners"]}
            assert listed == own, (path, per_page)
