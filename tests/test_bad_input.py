"""Input nothing can store or name gets GitHub's errors on both databases, never a 500, and
changes nothing: deep JSON, NUL, lone surrogates, over-long text, ids beyond 64 bits,
repeated query parameters."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import World
from tests.helpers import auth


@pytest.fixture
def org(world: World) -> dict[str, str]:
    admin = world.user()
    org = world.org(admin)
    runner = world.runners(world.scope("org", org), 1)[0]
    token = world.token(admin, scopes=["admin:org"])
    base = f"/orgs/{org}/actions/runners"
    return {"org": org, "token": token, "base": base, "runner": str(runner)}


def count(client: httpx.Client, ctx: dict[str, str]) -> int:
    response = client.get(ctx["base"], headers=auth(ctx["token"]))
    assert response.status_code == 200
    return int(response.json()["total_count"])


def labels_of(client: httpx.Client, ctx: dict[str, str]) -> list[str]:
    response = client.get(f"{ctx['base']}/{ctx['runner']}/labels", headers=auth(ctx["token"]))
    return [label["name"] for label in response.json()["labels"]]


def post_raw(client: httpx.Client, path: str, token: str, raw: bytes) -> httpx.Response:
    headers = {**auth(token), "Content-Type": "application/json"}
    return client.post(path, content=raw, headers=headers)


@pytest.mark.parametrize("depth", [254, 255, 256, 1000, 1025, 5000])
def test_deeply_nested_json_is_refused(
    client: httpx.Client, org: dict[str, str], depth: int
) -> None:
    path = f"{org['base']}/{org['runner']}/labels"
    nested = b'{"labels": [' + b"[" * depth + b"]" * depth + b"]}"
    response = post_raw(client, path, org["token"], nested)
    # Within orjson's 1 024 levels it parses and is the wrong type; beyond, it is bad JSON.
    assert response.status_code == (422 if depth < 1023 else 400), response.text
    assert response.json()["message"].startswith(("Invalid request", "Problems parsing JSON"))
    jit = b'{"name": ' + b"[" * depth + b"]" * depth + b', "runner_group_id": 1, "labels": ["a"]}'
    response = post_raw(client, f"{org['base']}/generate-jitconfig", org["token"], jit)
    assert response.status_code in (400, 422), response.text


@pytest.mark.parametrize(
    "path",
    [
        "/users/x%00",
        "/orgs/ac%00me",
        "/orgs/ac%00me/actions/runners",
        "/repos/a%00/b/actions/runners",
        "/enterprises/e%00/actions/runners",
        "/api/v3/orgs/ac%00me/actions/runners",
    ],
)
def test_unstorable_names_in_paths_are_not_found(
    client: httpx.Client, org: dict[str, str], path: str
) -> None:
    for headers in ({}, auth(org["token"])):
        response = client.get(path, headers=headers)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["message"] == "Not Found"


def test_invalid_utf8_in_paths_is_an_unknown_name(client: httpx.Client) -> None:
    response = client.get("/orgs/%ED%A0%80%FF/actions/runners")  # a lone surrogate, and 0xFF
    assert response.status_code == 401  # no such organization, asked anonymously


def test_nul_in_the_query_is_refused(client: httpx.Client, org: dict[str, str]) -> None:
    response = client.get(f"{org['base']}?name=%00", headers=auth(org["token"]))
    assert response.status_code == 422
    assert response.json()["message"].startswith("Invalid request")
    poll = client.get("/_apis/runner/messages?sessionId=%00", headers=auth("rha_nothing"))
    assert poll.status_code in (401, 422)


@pytest.mark.parametrize(
    "body",
    [
        {"labels": ["ok", "bad\u0000label"]},
        {"labels": ["x" * 257]},
        {"labels": ["İ" * 200]},  # 200 characters, but 400 once lower-cased
    ],
)
def test_unstorable_labels_are_422_and_change_nothing(
    client: httpx.Client, org: dict[str, str], body: dict[str, object]
) -> None:
    before = labels_of(client, org)
    for method in ("POST", "PUT"):
        response = client.request(
            method, f"{org['base']}/{org['runner']}/labels", json=body, headers=auth(org["token"])
        )
        assert response.status_code == 422, response.text
        assert response.json()["message"].startswith("Invalid request")
    assert labels_of(client, org) == before


@pytest.mark.parametrize(
    "body",
    [
        {"name": "n" * 256},
        {"name": "İ" * 200},
        {"name": "nul\u0000name"},
        {"work_folder": "w" * 256},
        {"work_folder": "w\u0000"},
        {"labels": ["x" * 257]},
    ],
)
def test_unstorable_jit_requests_are_422_and_create_nothing(
    client: httpx.Client, org: dict[str, str], body: dict[str, object]
) -> None:
    before = count(client, org)
    payload = {"name": "long", "runner_group_id": 1, "labels": ["self-hosted"], **body}
    response = client.post(
        f"{org['base']}/generate-jitconfig", json=payload, headers=auth(org["token"])
    )
    assert response.status_code == 422, response.text
    assert count(client, org) == before


def test_a_name_of_255_characters_is_fine(client: httpx.Client, org: dict[str, str]) -> None:
    payload = {"name": "n" * 255, "runner_group_id": 1, "labels": ["self-hosted"]}
    response = client.post(
        f"{org['base']}/generate-jitconfig", json=payload, headers=auth(org["token"])
    )
    assert response.status_code == 201, response.text
    assert response.json()["runner"]["name"] == "n" * 255


@pytest.mark.parametrize("group", [0, -1, 2**31, 2**31 + 1, 2**63 - 1, 2**63, 2**64, 10**40])
def test_runner_group_ids_beyond_any_group_are_not_found(
    client: httpx.Client, org: dict[str, str], group: int
) -> None:
    before = count(client, org)
    payload = {"name": f"g{group}"[:60], "runner_group_id": group, "labels": ["self-hosted"]}
    response = client.post(
        f"{org['base']}/generate-jitconfig", json=payload, headers=auth(org["token"])
    )
    # Beyond 64 bits JSON numbers parse as floats: not an integer at all (422).
    assert response.status_code == (404 if group < 2**64 else 422), response.text
    assert count(client, org) == before


HUGE = "9" * 5000  # more digits than Python parses into an int at all


@pytest.mark.parametrize("rid", [str(2**31), str(2**63 - 1), str(2**63), str(2**64), HUGE])
def test_ids_beyond_64_bits_are_not_found_at_every_door(
    client: httpx.Client, org: dict[str, str], rid: str
) -> None:
    for method, path, headers in (
        ("GET", f"{org['base']}/{rid}", auth(org["token"])),
        ("GET", f"{org['base']}/{rid}", {}),
        ("DELETE", f"{org['base']}/{rid}/labels", auth(org["token"])),
        ("GET", f"/api/v3{org['base']}/{rid}/labels", auth(org["token"])),
        ("GET", f"/enterprises/{rid}/actions/runners", auth(org["token"])),
        ("GET", f"/enterprises/{rid}/actions/runners", {}),
    ):
        response = client.request(method, path, headers=headers)
        assert response.status_code in (401, 404), (method, path[:80], response.text[:200])
        assert response.headers["content-type"].startswith("application/json")


def test_runner_protocol_remove_with_a_huge_id(client: httpx.Client, org: dict[str, str]) -> None:
    token = client.post(f"{org['base']}/remove-token", headers=auth(org["token"])).json()["token"]
    for runner_id in (str(2**63), str(2**64), HUGE):
        response = client.request(
            "DELETE",
            f"/actions/runners/{runner_id}",
            json={"url": f"{client.base_url}/{org['org']}"},
            headers={"Authorization": f"RemoteAuth {token}"},
        )
        assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    "query",
    [
        "per_page=x&per_page=", "per_page=5&per_page=500", "page=1&page=0", "name=a&name=b",
        "per_page=%2B1", "per_page=%201", "per_page=1_0", "page=%D9%A3",
    ],
)
def test_repeated_query_parameters_do_not_slip_past_validation(
    client: httpx.Client, org: dict[str, str], query: str
) -> None:
    response = client.get(f"{org['base']}?{query}", headers=auth(org["token"]))
    assert response.status_code == 422, response.text
    same = client.get(f"{org['base']}?per_page=5&per_page=5", headers=auth(org["token"]))
    assert same.status_code == 200


def test_organization_without_a_blog_validates(client: httpx.Client, org: dict[str, str]) -> None:
    from tests.contract import validate

    for prefix in ("", "/api/v3"):
        path = f"{prefix}/orgs/{org['org']}"
        response = client.get(path, headers=auth(org["token"]))
        assert response.status_code == 200
        validate(path, "GET", 200, response.json())
        assert response.json().get("blog") is None
