"""Runners: JIT configs, deletion rules and runner tokens."""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from runnerhub.auth.secrets import hash_token
from runnerhub.storage.tables import runner_tokens, runners
from tests.agents import wait_for
from tests.factories import World
from tests.helpers import auth
from tests.server import POOL_SIZE, ServerProcess


@pytest.fixture
def org_admin(world: World) -> dict[str, str]:
    admin = world.user()
    org = world.org(admin)
    token = world.token(admin, scopes=["admin:org"])
    return {"org": org, "token": token, "base": f"/orgs/{org}/actions/runners"}


def jit(client: httpx.Client, ctx: dict[str, str], **body: object) -> httpx.Response:
    payload = {"name": "jit", "runner_group_id": 1, "labels": ["self-hosted", "gpu"], **body}
    return client.post(
        f"{ctx['base']}/generate-jitconfig", json=payload, headers=auth(ctx["token"])
    )


def decode(blob: str) -> dict[str, dict[str, object]]:
    files = json.loads(base64.b64decode(blob))
    return {name: json.loads(base64.b64decode(content)) for name, content in files.items()}


def test_jit_blob_has_the_official_runner_shape(
    client: httpx.Client, world: World, org_admin: dict[str, str]
) -> None:
    response = jit(client, org_admin, name="jit-shape", work_folder="w")
    assert response.status_code == 201
    body = response.json()
    runner = body["runner"]
    assert (runner["os"], runner["status"], runner["busy"], runner["ephemeral"]) == (
        "unknown",
        "offline",
        False,
        True,
    )
    assert [(lb["name"], lb["type"]) for lb in runner["labels"]] == [
        ("self-hosted", "read-only"),
        ("gpu", "custom"),
    ]
    files = decode(body["encoded_jit_config"])
    assert set(files) == {".runner", ".credentials", ".credentials_rsaparams"}
    assert files[".runner"]["AgentId"] == str(runner["id"])
    assert files[".runner"]["WorkFolder"] == "w"
    assert files[".credentials"]["Scheme"] == "OAuth"
    params = files[".credentials_rsaparams"]
    assert set(params) == {"modulus", "exponent", "d", "p", "q", "dp", "dq", "inverseQ"}
    assert stored_public_key(world, runner["id"]) == public_pem(params)


def public_pem(params: dict[str, object]) -> str:
    """The public half of the private key the runner got, as the server should store it."""

    def number(key: str) -> int:
        return int.from_bytes(base64.b64decode(str(params[key])), "big")

    public = rsa.RSAPublicNumbers(number("exponent"), number("modulus"))
    private = rsa.RSAPrivateNumbers(
        number("p"),
        number("q"),
        number("d"),
        number("dp"),
        number("dq"),
        number("inverseQ"),
        public,
    ).private_key()
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def stored_public_key(world: World, runner_id: int) -> str:
    return str(
        world.db.read(
            lambda c: c.execute(
                select(runners.c.public_key).where(runners.c.id == runner_id)
            ).scalar()
        )
    )


def test_jit_keys_are_unique_from_the_pool_and_beyond_it(
    client: httpx.Client, server: ServerProcess, world: World, org_admin: dict[str, str]
) -> None:
    # The test server's pool holds POOL_SIZE keys: the first configs take pooled keys, the
    # rest are made per request.
    wait_for(lambda: "runner key pool full" in server.log.read_text(), 30, "the key pool to fill")
    keys = []
    for n in range(POOL_SIZE + 3):
        body = jit(client, org_admin, name=f"pooled-{n}").json()
        params = decode(body["encoded_jit_config"])[".credentials_rsaparams"]
        assert stored_public_key(world, body["runner"]["id"]) == public_pem(params)
        keys.append(params["modulus"])
    assert len(set(keys)) == len(keys)


def test_jit_name_clash_is_409_case_insensitively(
    client: httpx.Client, org_admin: dict[str, str]
) -> None:
    assert jit(client, org_admin, name="Twin").status_code == 201
    clash = jit(client, org_admin, name="twin")
    assert clash.status_code == 409
    assert clash.json()["message"] == "Already exists - A runner with the name twin already exists."


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"runner_group_id": 99}, 404),
        ({"labels": []}, 422),
        ({"labels": [f"l{i}" for i in range(101)]}, 422),
        ({"runner_group_id": "1"}, 422),
        ({"name": ""}, 422),
        ({"labels": ["a,b"]}, 422),
    ],
)
def test_jit_refusals_create_nothing(
    client: httpx.Client, org_admin: dict[str, str], body: dict[str, object], status: int
) -> None:
    response = jit(client, org_admin, **{"name": "refused", **body})
    assert response.status_code == status, response.text
    listed = client.get(org_admin["base"], headers=auth(org_admin["token"])).json()
    assert listed["total_count"] == 0


def test_jit_missing_group_message(client: httpx.Client, org_admin: dict[str, str]) -> None:
    payload = {"name": "x", "labels": ["a"]}
    response = client.post(
        f"{org_admin['base']}/generate-jitconfig", json=payload, headers=auth(org_admin["token"])
    )
    assert response.status_code == 422
    assert response.json()["message"].endswith("missing required key: runner_group_id.")


def test_busy_runner_cannot_be_deleted(
    client: httpx.Client, world: World, org_admin: dict[str, str]
) -> None:
    scope = world.scope("org", org_admin["org"])
    runner_id = world.runners(scope, 1)[0]
    world.start_job(scope, runner_id)
    path = f"{org_admin['base']}/{runner_id}"
    shown = client.get(path, headers=auth(org_admin["token"])).json()
    assert shown["busy"] is True
    refused = client.delete(path, headers=auth(org_admin["token"]))
    assert refused.status_code == 422
    assert refused.json()["message"] == (
        f'Bad request - Runner "{shown["name"]}" is still running a job"'
    )
    assert client.get(path, headers=auth(org_admin["token"])).status_code == 200


def test_runner_tokens_are_random_hashed_and_bound(
    client: httpx.Client, world: World, org_admin: dict[str, str]
) -> None:
    issued = {
        client.post(
            f"{org_admin['base']}/registration-token", headers=auth(org_admin["token"])
        ).json()["token"]
        for _ in range(5)
    }
    assert len(issued) == 5
    token = issued.pop()
    row = world.db.read(
        lambda c: c.execute(
            select(runner_tokens).where(runner_tokens.c.token_hash == hash_token(token))
        ).first()
    )
    assert row is not None
    assert row.purpose == "registration"
    assert (row.expires_at - row.created_at).total_seconds() == 3600
    stored = world.db.read(lambda c: [r.token_hash for r in c.execute(select(runner_tokens))])
    assert token not in stored


def test_remove_token_expiry_format(client: httpx.Client, org_admin: dict[str, str]) -> None:
    body = client.post(
        f"{org_admin['base']}/remove-token",
        headers={**auth(org_admin["token"]), "Content-Type": "text/plain"},
        content=b"",
    ).json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", body["expires_at"])


def test_enterprise_by_numeric_id(client: httpx.Client, world: World) -> None:
    owner = world.user()
    slug = world.enterprise(owner)
    scope = world.scope("enterprise", slug)
    token = world.token(owner, scopes=["manage_runners:enterprise"])
    by_id = client.get(f"/enterprises/{scope.subject_id}/actions/runners", headers=auth(token))
    by_slug = client.get(f"/enterprises/{slug.upper()}/actions/runners", headers=auth(token))
    assert by_id.status_code == by_slug.status_code == 200


def test_concurrent_jit_with_one_name_gives_one_runner_and_409s(
    server: ServerProcess, org_admin: dict[str, str]
) -> None:
    url = server.url
    payload = {"name": "race", "runner_group_id": 1, "labels": ["x"]}

    def make(_: int) -> int:
        with httpx.Client(base_url=url, timeout=60) as http:
            path = f"{org_admin['base']}/generate-jitconfig"
            return http.post(path, json=payload, headers=auth(org_admin["token"])).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(make, range(6)))
    assert statuses == [201, 409, 409, 409, 409, 409]


def test_total_count_stays_exact_under_concurrent_creates_and_deletes(
    server: ServerProcess, world: World, org_admin: dict[str, str]
) -> None:
    # The count is kept by triggers (on PostgreSQL, run at commit): concurrent transactions
    # in one scope must neither lose nor double an update.
    base, headers = org_admin["base"], auth(org_admin["token"])

    def create(n: int) -> int:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            body = {"name": f"counted-{n}", "runner_group_id": 1, "labels": ["x"]}
            created = http.post(f"{base}/generate-jitconfig", json=body, headers=headers)
            return int(created.json()["runner"]["id"])

    def delete(runner_id: int) -> int:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            return http.delete(f"{base}/{runner_id}", headers=headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(create, range(16)))
        assert set(pool.map(delete, ids[:6])) == {204}
    with httpx.Client(base_url=server.url) as http:
        listed = http.get(base, params={"per_page": 100}, headers=headers).json()
    assert listed["total_count"] == len(listed["runners"]) == 10
