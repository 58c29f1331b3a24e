"""GitHub's GraphQL API at /graphql and /api/graphql: gh's own queries verbatim, the
language (variables, aliases, fragments), GitHub's error shapes, and the limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runnerhub.api.graphql import OPERATIONS
from runnerhub.app import GHES_PREFIX, all_operations
from runnerhub.auth.permissions import GRAPHQL
from tests.factories import World
from tests.helpers import auth

PATHS = ["/graphql", "/api/graphql"]

# gh 2.23's queries, as it sends them.
USER_CURRENT = "query UserCurrent{viewer{login}}"
REPOSITORY_INFO = (
    "fragment repo on Repository { id name owner { login } hasIssuesEnabled description "
    "hasWikiEnabled viewerPermission defaultBranchRef { name } } query RepositoryInfo($owner: "
    "String!, $name: String!) { repository(owner: $owner, name: $name) { ...repo parent { "
    "...repo } mergeCommitAllowed rebaseMergeAllowed squashMergeAllowed } }"
)
PULL_REQUEST_FOR_RUN = (
    "query PullRequestForRun($owner: String!, $repo: String!, $headRefName: String!) { "
    "repository(owner: $owner, name: $repo) { pullRequests(headRefName: $headRefName, first: "
    "1, orderBy: { field: CREATED_AT, direction: DESC }) { nodes { number headRepository { "
    "owner { login } name } } } } }"
)


def ask(
    client: httpx.Client,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
    path: str = "/graphql",
) -> dict[str, Any]:
    response = client.post(path, headers=auth(token), json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("path", PATHS)
def test_gh_user_current(client: httpx.Client, world: World, path: str) -> None:
    login = world.user()
    body = ask(client, world.token(login, scopes=["repo"]), USER_CURRENT, path=path)
    assert body == {"data": {"viewer": {"login": login}}}


def test_gh_repository_info(client: httpx.Client, world: World) -> None:
    owner = world.user()
    full_name = world.repo(owner)
    login, name = full_name.split("/")
    body = ask(
        client, world.token(owner, scopes=["repo"]), REPOSITORY_INFO, {"owner": login, "name": name}
    )
    repository = body["data"]["repository"]
    assert "errors" not in body
    assert isinstance(repository["id"], str)  # the REST node_id: test_ids_are_the_rest_node_ids
    assert repository["name"] == name
    assert repository["owner"] == {"login": login}
    assert repository["viewerPermission"] == "ADMIN"
    assert repository["defaultBranchRef"] == {"name": "main"}
    assert repository["parent"] is None
    assert repository["hasIssuesEnabled"] is True
    assert repository["hasWikiEnabled"] is False
    assert repository["description"] is None
    assert repository["mergeCommitAllowed"] is True
    assert repository["rebaseMergeAllowed"] is repository["squashMergeAllowed"] is True


def test_ids_are_the_rest_node_ids(client: httpx.Client, world: World) -> None:
    owner = world.user()
    full_name = world.repo(owner)
    token = world.token(owner, scopes=["repo"])
    rest = client.get(f"/repos/{full_name}", headers=auth(token)).json()
    login, name = full_name.split("/")
    query = "query($o: String!, $n: String!) { repository(owner: $o, name: $n) { id databaseId "
    query += "nameWithOwner url isPrivate visibility owner { id ... on User { databaseId } } } }"
    found = ask(client, token, query, {"o": login, "n": name})["data"]["repository"]
    assert found["id"] == rest["node_id"]
    assert found["databaseId"] == rest["id"]
    assert found["nameWithOwner"] == full_name
    assert found["url"] == rest["html_url"]
    assert (found["isPrivate"], found["visibility"]) == (False, "PUBLIC")
    assert found["owner"] == {"id": rest["owner"]["node_id"], "databaseId": rest["owner"]["id"]}


def test_gh_pull_request_for_run_finds_none(client: httpx.Client, world: World) -> None:
    owner = world.user()
    login, name = world.repo(owner).split("/")
    variables = {"owner": login, "repo": name, "headRefName": "main"}
    body = ask(client, world.token(owner, scopes=["repo"]), PULL_REQUEST_FOR_RUN, variables)
    assert body == {"data": {"repository": {"pullRequests": {"nodes": []}}}}


def test_permission_follows_the_role(client: httpx.Client, world: World) -> None:
    owner, writer, stranger = world.user(), world.user(), world.user()
    login, name = world.repo(owner, collaborators=[(writer, "write")]).split("/")
    query = f'{{ repository(owner: "{login}", name: "{name}") {{ viewerPermission }} }}'
    for who, expected in ((writer, "WRITE"), (stranger, "READ")):
        body = ask(client, world.token(who, scopes=["repo"]), query)
        assert body["data"]["repository"]["viewerPermission"] == expected


def test_aliases_fragments_and_operation_name(client: httpx.Client, world: World) -> None:
    admin = world.user()
    org = world.org(admin)
    query = (
        "query Other { viewer { login } } "
        "query Mine($org: String!) { me: viewer { ...who } "
        "org: organization(login: $org) { ...who name } "
        "person: user(login: $me) { ... on User { login } } } "
        "fragment who on RepositoryOwner { login resourcePath __typename }"
    )
    response = client.post(
        "/api/graphql",
        headers=auth(world.token(admin)),
        json={"query": query.replace("$me", f'"{admin}"'), "variables": {"org": org},
              "operationName": "Mine"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "me": {"login": admin, "resourcePath": f"/{admin}", "__typename": "User"},
            "org": {"login": org, "resourcePath": f"/{org}", "__typename": "Organization",
                    "name": None},
            "person": {"login": admin},
        }
    }  # fmt: skip


def test_private_repository_is_not_found_for_others(client: httpx.Client, world: World) -> None:
    owner, outsider = world.user(), world.user()
    login, name = world.repo(owner, private=True).split("/")
    variables = {"owner": login, "name": name}
    seen = ask(client, world.token(owner, scopes=["repo"]), REPOSITORY_INFO, variables)
    assert seen["data"]["repository"]["name"] == name
    hidden = ask(client, world.token(outsider, scopes=["repo"]), REPOSITORY_INFO, variables)
    absent = ask(client, world.token(outsider, scopes=["repo"]), REPOSITORY_INFO,
                 {"owner": login, "name": "nope"})  # fmt: skip
    assert hidden["data"] == {"repository": None}
    [error] = hidden["errors"]
    assert error["type"] == "NOT_FOUND"
    assert error["path"] == ["repository"]
    assert error["message"] == f"Could not resolve to a Repository with the name '{login}/{name}'."
    assert error["locations"]
    assert absent["errors"][0]["message"].replace("nope", name) == error["message"]


def test_users_and_organizations_not_found(client: httpx.Client, world: World) -> None:
    admin = world.user()
    org = world.org(admin)
    token = world.token(admin)
    body = ask(client, token, f'{{ user(login: "{org}") {{ login }} }}')
    assert body["data"] == {"user": None}
    assert body["errors"][0]["type"] == "NOT_FOUND"
    assert body["errors"][0]["message"] == f"Could not resolve to a User with the login of '{org}'."
    body = ask(client, token, '{ organization(login: "no\\u0000pe") { login } }')
    assert body["errors"][0]["type"] == "NOT_FOUND"


def test_query_errors_answer_200(client: httpx.Client, world: World) -> None:
    token = world.token(world.user())
    syntax = ask(client, token, "query { viewer { login }")
    assert "data" not in syntax
    assert syntax["errors"][0]["message"].startswith("Syntax Error")
    assert syntax["errors"][0]["locations"] == [{"line": 1, "column": 25}]
    unknown = ask(client, token, "{ viewer { login password } }")
    assert unknown["errors"][0]["message"] == "Cannot query field 'password' on type 'User'."
    missing = ask(client, token, "query($o: String!) { organization(login: $o) { login } }")
    assert missing["errors"][0]["message"].startswith("Variable '$o' has invalid value")
    assert "data" not in missing
    mutation = ask(client, token, 'mutation { deleteRepository(id: "x") }')
    assert mutation["errors"]


def test_authentication_is_required(client: httpx.Client) -> None:
    for path in PATHS:
        anonymous = client.post(path, json={"query": USER_CURRENT})
        assert anonymous.status_code == 401
        assert anonymous.json()["message"] == "This endpoint requires you to be authenticated."
        assert anonymous.json()["documentation_url"].startswith("https://docs.github.com/graphql")
        bad = client.post(path, headers=auth("ghp_" + "x" * 36), json={"query": USER_CURRENT})
        assert (bad.status_code, bad.json()["message"]) == (401, "Bad credentials")


def test_bad_bodies_are_refused(client: httpx.Client, world: World) -> None:
    headers = auth(world.token(world.user()))
    not_json = client.post("/graphql", headers=headers, content=b"{query")
    assert (not_json.status_code, not_json.json()["message"]) == (400, "Problems parsing JSON")
    for body in ({}, {"query": 5}, {"query": USER_CURRENT, "variables": [1]}):
        refused = client.post("/graphql", headers=headers, json=body)
        assert refused.status_code == 400, body
        assert refused.json()["documentation_url"] == "https://docs.github.com/graphql"
    wrong_type = client.post("/graphql", headers=headers, content=b"[]")
    assert wrong_type.status_code == 400
    oversized = client.post("/graphql", headers=headers, json={"query": "#" * (1024 * 1024)})
    assert oversized.status_code == 413


def test_depth_and_nesting_are_bounded(client: httpx.Client, world: World) -> None:
    token = world.token(world.user())
    fifteen = "parent { " * 13 + "name" + " }" * 13  # repository, 13 parents, name
    query = '{ repository(owner: "a", name: "b") { %s } }'
    assert "errors" in ask(client, token, query % fifteen)  # resolved: NOT_FOUND, not too deep
    assert ask(client, token, query % fifteen)["errors"][0]["type"] == "NOT_FOUND"
    too_deep = ask(client, token, query % ("parent { " + fifteen + " }"))
    assert too_deep == {
        "errors": [{"message": "Query has depth of 16, which exceeds max depth of 15"}]
    }
    nested = ask(client, token, "{" * 5000 + "}" * 5000)
    assert "nested deeper" in nested["errors"][0]["message"]
    # Fragments spread twice in each other: exponential if expanded without a bound.
    doubling = ["fragment f0 on User { login }"]
    doubling += [f"fragment f{i} on User {{ ...f{i - 1} ...f{i - 1} }}" for i in range(1, 40)]
    exploded = ask(client, token, "{ viewer { ...f39 } } " + " ".join(doubling))
    assert exploded == {"errors": [{"message": "Query has more than 10000 selections."}]}
    # A long chain of fragments, each spreading the next: graphql-core's validation gives up
    # when it recurses too deep, and says so (a query error, never a 500).
    chain = [f"fragment f{i} on User {{ ...f{i + 1} }}" for i in range(600)]
    chained = ask(client, token, "{ viewer { ...f0 } } " + " ".join(chain))
    assert chained == {"errors": [{"message": "Validation aborted."}]}


def test_graphql_is_declared_but_not_rest() -> None:
    assert len(OPERATIONS) == 2
    for op in OPERATIONS:
        assert op in all_operations()
        assert op.permission is GRAPHQL
        assert not op.rest
        assert not op.writes
    assert {op.path for op in OPERATIONS} == set(PATHS)


def test_introspection(client: httpx.Client, world: World) -> None:
    from graphql import get_introspection_query

    body = ask(client, world.token(world.user()), get_introspection_query())
    assert "errors" not in body
    names = {t["name"] for t in body["data"]["__schema"]["types"]}
    assert {"Repository", "RepositoryOwner", "PullRequestConnection"} <= names


def test_not_under_the_rest_prefix(client: httpx.Client, world: World) -> None:
    token = world.token(world.user())
    response = client.post(f"{GHES_PREFIX}/graphql", headers=auth(token), json={"query": "{}"})
    assert response.status_code == 404
    assert client.get("/graphql", headers=auth(token)).status_code == 404


def test_counts_against_the_rest_budget(client: httpx.Client, world: World) -> None:
    headers = auth(world.token(world.user()))
    first = client.post("/graphql", headers=headers, json={"query": USER_CURRENT})
    second = client.post("/api/graphql", headers=headers, json={"query": USER_CURRENT})
    assert int(second.headers["X-RateLimit-Used"]) == int(first.headers["X-RateLimit-Used"]) + 1
