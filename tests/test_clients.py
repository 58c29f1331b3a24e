"""Real GitHub client libraries, pointed at the real server, doing what autoscalers do."""

from __future__ import annotations

import base64
import json

import pytest
from github import Auth, Github, GithubException
from githubkit import GitHub
from githubkit.exception import RequestFailed

from tests.factories import World
from tests.helpers import ALL_SCOPES
from tests.server import ServerProcess


@pytest.fixture
def admin(world: World) -> dict[str, str]:
    login = world.user()
    slug = world.enterprise(login)
    org = world.org(login, enterprise=slug)
    repo = world.repo(org)
    return {
        "login": login,
        "enterprise": slug,
        "org": org,
        "repo": repo,
        "token": world.token(login, scopes=ALL_SCOPES),
    }


@pytest.mark.parametrize("prefix", ["", "/api/v3"])
def test_pygithub_manages_org_and_repo_runners(
    server: ServerProcess, world: World, admin: dict[str, str], prefix: str
) -> None:
    gh = Github(base_url=server.url + prefix, auth=Auth.Token(admin["token"]))
    org = gh.get_organization(admin["org"])
    assert org.create_self_hosted_runner_registration_token().token
    assert org.create_self_hosted_runner_remove_token().token
    apps = org.get_self_hosted_runner_applications()
    assert any(app.os == "linux" for app in apps)
    for i in range(3):
        org.create_self_hosted_runner_jitconfig(f"py-{i}", 1, ["self-hosted", "linux", f"n{i}"])
    world.runners(world.scope("org", admin["org"]), 40)
    runners = org.get_self_hosted_runners()
    assert runners.totalCount == 43
    assert len(list(runners)) == 43  # pages through Link
    first = next(r for r in runners if r.name == "py-0")
    assert org.get_self_hosted_runner(first.id).labels[2]["name"] == "n0"
    org.delete_self_hosted_runner(first.id)
    with pytest.raises(GithubException) as missing:
        org.get_self_hosted_runner(first.id)
    assert missing.value.status == 404

    repo = gh.get_repo(admin["repo"])
    world.runners(world.scope("repo", admin["repo"]), 2)
    repo_runners = list(repo.get_self_hosted_runners())
    assert len(repo_runners) == 2
    assert repo.remove_self_hosted_runner(repo_runners[0])
    assert repo.get_self_hosted_runners().totalCount == 1


def test_pygithub_enterprise_through_its_requester(
    server: ServerProcess, admin: dict[str, str]
) -> None:
    gh = Github(base_url=server.url, auth=Auth.Token(admin["token"]))
    base = f"/enterprises/{admin['enterprise']}/actions/runners"
    _, token = gh.requester.requestJsonAndCheck("POST", f"{base}/registration-token")
    assert len(token["token"]) == 29
    body = {"name": "ent-runner", "runner_group_id": 1, "labels": ["self-hosted"]}
    _, jit = gh.requester.requestJsonAndCheck("POST", f"{base}/generate-jitconfig", input=body)
    _, listed = gh.requester.requestJsonAndCheck("GET", base)
    assert [r["name"] for r in listed["runners"]] == ["ent-runner"]
    gh.requester.requestJsonAndCheck("DELETE", f"{base}/{jit['runner']['id']}")


def test_githubkit_full_lifecycle(
    server: ServerProcess, world: World, admin: dict[str, str]
) -> None:
    # http_cache off: GitHub's own 60 s Cache-Control would otherwise serve stale lists.
    gh = GitHub(admin["token"], base_url=server.url, http_cache=False)
    actions = gh.rest.actions
    org, (owner, repo) = admin["org"], admin["repo"].split("/")
    assert actions.create_registration_token_for_org(org).parsed_data.token
    assert actions.create_remove_token_for_repo(owner, repo).parsed_data.token
    made = actions.generate_runner_jitconfig_for_org(
        org, name="kit", runner_group_id=1, labels=["self-hosted", "X64"]
    ).parsed_data
    files = json.loads(base64.b64decode(made.encoded_jit_config))
    assert set(files) == {".runner", ".credentials", ".credentials_rsaparams"}
    runner_id = made.runner.id

    labels = actions.add_custom_labels_to_self_hosted_runner_for_org(
        org, runner_id, labels=["gpu", "key=value"]
    ).parsed_data
    assert {lb.name for lb in labels.labels} == {"self-hosted", "X64", "gpu", "key=value"}
    actions.set_custom_labels_for_self_hosted_runner_for_org(org, runner_id, labels=["only"])
    actions.remove_custom_label_from_self_hosted_runner_for_org(org, runner_id, "only")
    left = actions.remove_all_custom_labels_from_self_hosted_runner_for_org(org, runner_id)
    assert left.parsed_data.total_count == 2

    world.runners(world.scope("org", org), 120)
    pages = gh.rest.paginate(
        actions.list_self_hosted_runners_for_org,
        map_func=lambda r: r.parsed_data.runners,
        org=org,
        per_page=50,
    )
    seen = list(pages)
    assert len(seen) == 121
    actions.delete_self_hosted_runner_from_org(org, runner_id)
    with pytest.raises(RequestFailed) as missing:
        actions.get_self_hosted_runner_for_org(org, runner_id)
    assert missing.value.response.status_code == 404

    repo_made = actions.generate_runner_jitconfig_for_repo(
        owner, repo, name="kit-repo", runner_group_id=1, labels=["linux"]
    ).parsed_data
    listed = actions.list_self_hosted_runners_for_repo(owner, repo).parsed_data
    assert [r.id for r in listed.runners] == [repo_made.runner.id]
    actions.delete_self_hosted_runner_from_repo(owner, repo, repo_made.runner.id)

    enterprise = f"/enterprises/{admin['enterprise']}/actions/runners"
    assert gh.request("POST", f"{enterprise}/remove-token").status_code == 201
    assert gh.request("GET", enterprise).json()["total_count"] == 0
