"""`/openapi.json` and `/docs` on the real server: a valid OpenAPI 3 description of exactly
what the server serves, with or without GitHub's own descriptions (RUNNERHUB_GITHUB_OPENAPI)
to take GitHub's operations from."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.routing import Mount, Route

from runnerhub.api.openapi import document
from runnerhub.app import create_app
from runnerhub.settings import Settings
from tests.contract import SPEC_DIR, spec
from tests.server import ServerProcess, start_server

METHODS = ("get", "put", "post", "delete", "patch")


# GitHub's descriptions as the workspace keeps them (filtered to what runnerhub serves).
GITHUB_FILES = ("jobs-dotcom", "dotcom", "ghec", "jobs-ghec", "ghes", "jobs-ghes")


def fetched(server: ServerProcess) -> dict[str, Any]:
    answer = httpx.get(server.url + "/openapi.json", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture(scope="module")
def described(server: ServerProcess) -> dict[str, Any]:
    """The description a server without GitHub's files gives."""
    return fetched(server)


@pytest.fixture(scope="module")
def with_github(database_url: str, workdir: Path) -> Iterator[dict[str, Any]]:
    if not SPEC_DIR.exists():
        pytest.skip("no GitHub descriptions beside the checkout")
    files = ",".join(str(SPEC_DIR / f"{name}.json") for name in GITHUB_FILES)
    server = start_server(database_url, workdir, github_openapi=files)
    try:
        yield fetched(server)
    finally:
        server.stop()


def described_routes(described: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) under each server the description names for the path."""
    found = set()
    for path, item in described["paths"].items():
        servers = item.get("servers", described["servers"])
        for method in (m for m in item if m in METHODS):
            for server in servers:
                prefix = httpx.URL(server["url"]).path.rstrip("/")
                found.add((method.upper(), prefix + path))
    return found


def served_routes(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    found = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= served_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", prefix + route.path)
            found |= {(method, path) for method in route.methods or () if method != "HEAD"}
    return found


def test_the_description_is_valid_openapi_3(
    described: dict[str, Any], with_github: dict[str, Any]
) -> None:
    for document_ in (described, with_github):
        assert document_["openapi"].startswith("3.")
        validate(document_)


def test_without_githubs_files_operations_link_to_githubs_docs(
    described: dict[str, Any],
) -> None:
    ours = described["paths"]["/orgs/{org}/actions/runners"]["get"]
    assert ours["operationId"] == "actions/list-self-hosted-runners-for-org"
    assert ours["externalDocs"]["url"].startswith("https://docs.github.com/")
    assert [p["name"] for p in ours["parameters"]] == ["org"]
    assert "RUNNERHUB_GITHUB_OPENAPI" in described["info"]["description"]


def test_it_describes_every_served_route_and_nothing_else(
    described: dict[str, Any], tmp_path: Path
) -> None:
    app = create_app(Settings(data_dir=tmp_path))  # the server's routes as the real one has them
    # The dashboard's pages are for browsers (runnerhub/web), not part of the API.
    served = {r for r in served_routes(app.routes) if not r[1].startswith("/dashboard")}
    clock = {("POST", "/_runnerhub/testing/clock"), ("POST", "/api/v3/_runnerhub/testing/clock")}
    assert described_routes(described) == served - clock  # 404 unless RUNNERHUB_TESTING
    testing = create_app(Settings(data_dir=tmp_path, testing=True))
    with_hooks = document(testing.state.operations, "http://127.0.0.1:8000")
    assert described_routes(with_hooks) == served


def test_github_operations_keep_githubs_description(with_github: dict[str, Any]) -> None:
    described = with_github
    ours = described["paths"]["/orgs/{org}/actions/runners"]["get"]
    github = spec("dotcom")["paths"]["/orgs/{org}/actions/runners"]["get"]
    assert ours["operationId"] == github["operationId"]
    assert ours["parameters"] == github["parameters"]
    schema = ours["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["properties"]["runners"]["items"] == {"$ref": "#/components/schemas/runner"}
    assert "runner" in described["components"]["schemas"]
    protocol = described["paths"]["/_apis/runner/messages"]["get"]
    assert protocol["operationId"] == "runner/get-message"
    assert protocol["tags"] == ["runner"]
    assert described["paths"]["/metrics"]["servers"] == [{"url": described["servers"][0]["url"]}]


def test_docs_page_lists_the_operations_by_tag(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<h2 id="actions">actions</h2>' in page.text
    assert "actions/list-self-hosted-runners-for-org" in page.text
    assert "<code>/_apis/runner/sessions</code>" in page.text
    assert "<script" not in page.text  # nothing fetched from elsewhere
    assert "stylesheet" not in page.text
