"""Bad input gets GitHub's error and changes nothing; no request ever yields a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runnerhub.storage import labels
from runnerhub.storage.database import Database
from tests.factories import World
from tests.helpers import auth
from tests.server import ServerProcess, start_server


@pytest.fixture
def ctx(world: World) -> dict[str, str]:
    admin = world.user()
    org = world.org(admin)
    runner = world.runners(world.scope("org", org), 1)[0]
    token = world.token(admin, scopes=["admin:org"])
    return {"token": token, "base": f"/orgs/{org}/actions/runners", "runner": str(runner)}


def test_bad_json_and_non_objects(client: httpx.Client, ctx: dict[str, str]) -> None:
    path = f"{ctx['base']}/{ctx['runner']}/labels"
    headers = {**auth(ctx["token"]), "Content-Type": "application/json"}
    broken = client.post(path, content=b'{"labels": [', headers=headers)
    assert (broken.status_code, broken.json()["message"]) == (400, "Problems parsing JSON")
    listed = client.post(path, content=b'["a"]', headers=headers)
    assert (listed.status_code, listed.json()["message"]) == (400, "Body should be a JSON object")
    assert set(broken.json()) >= {"message", "documentation_url"}


def test_unknown_routes_methods_and_trailing_slashes_are_404(
    client: httpx.Client, ctx: dict[str, str]
) -> None:
    headers = auth(ctx["token"])
    for method, path in (
        ("GET", "/nope"),
        ("PATCH", ctx["base"]),
        ("POST", f"{ctx['base']}/{ctx['runner']}"),
        ("GET", f"{ctx['base']}/"),
        ("GET", f"{ctx['base']}/not-a-number"),
        ("GET", f"{ctx['base']}/{10**30}"),
    ):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["message"] == "Not Found"


def test_api_version_header(client: httpx.Client, ctx: dict[str, str]) -> None:
    headers = auth(ctx["token"])
    default = client.get(ctx["base"], headers=headers)
    assert default.headers["X-GitHub-Api-Version-Selected"] == "2022-11-28"
    bad = client.get(ctx["base"], headers={**headers, "X-GitHub-Api-Version": "v3"})
    assert bad.status_code == 400
    assert '"v3", is not a supported version' in bad.json()["message"]
    # A bad credential is reported before a bad version, as on GitHub.
    both = client.get(ctx["base"], headers={**auth("nope"), "X-GitHub-Api-Version": "v3"})
    assert both.status_code == 401


def test_github_headers_on_every_response(client: httpx.Client, ctx: dict[str, str]) -> None:
    response = client.get(ctx["base"], headers=auth(ctx["token"]))
    for header in (
        "X-GitHub-Request-Id",
        "X-GitHub-Media-Type",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-used",
        "x-ratelimit-reset",
        "x-ratelimit-resource",
        "X-OAuth-Scopes",
        "X-Accepted-OAuth-Scopes",
        "ETag",
    ):
        assert header in response.headers, header
    assert response.headers["X-Accepted-OAuth-Scopes"] == "admin:org"
    assert (
        response.headers["X-Accepted-GitHub-Permissions"] == "organization_self_hosted_runners=read"
    )


def test_oversized_body_is_refused(client: httpx.Client, ctx: dict[str, str]) -> None:
    path = f"{ctx['base']}/{ctx['runner']}/labels"
    big = b'{"labels": ["' + b"x" * (2 * 1024 * 1024) + b'"]}'
    response = client.post(path, content=big, headers=auth(ctx["token"]))
    assert response.status_code == 413
    assert response.json()["message"].startswith("Request body is larger")


def test_body_less_posts_accept_any_content_type(client: httpx.Client, ctx: dict[str, str]) -> None:
    headers = {**auth(ctx["token"]), "Content-Type": "text/plain; charset=utf-8"}
    response = client.post(f"{ctx['base']}/registration-token", content=b"junk", headers=headers)
    assert response.status_code == 201


def test_etag_revalidation_is_free(client: httpx.Client, ctx: dict[str, str]) -> None:
    headers = auth(ctx["token"])
    first = client.get(ctx["base"], headers=headers)
    again = client.get(ctx["base"], headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["x-ratelimit-used"] == first.headers["x-ratelimit-used"]


@pytest.fixture
def tight_server(db: Database, database_url: str, workdir: Path) -> Iterator[ServerProcess]:
    process = start_server(database_url, workdir, rate_limit_per_hour="3")
    yield process
    process.stop()


def test_exhausted_budget_is_403_and_runs_nothing(
    tight_server: ServerProcess, world: World, ctx: dict[str, str]
) -> None:
    headers = auth(ctx["token"])
    with httpx.Client(base_url=tight_server.url) as http:
        for _ in range(3):
            assert http.get(ctx["base"], headers=headers).status_code == 200
        refused = http.post(
            f"{ctx['base']}/{ctx['runner']}/labels", json={"labels": ["late"]}, headers=headers
        )
        assert refused.status_code == 403
        assert refused.json()["message"].startswith("API rate limit exceeded for user ID")
        assert refused.headers["x-ratelimit-remaining"] == "0"
        limits = http.get("/rate_limit", headers=headers).json()
        assert limits["resources"]["core"]["remaining"] == 0
    runner_labels = world.db.read(lambda c: labels.of_runner(c, int(ctx["runner"])))
    assert "late" not in {label.name for label in runner_labels}
