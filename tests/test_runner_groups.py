"""Runner groups at organization and enterprise scope, through the real server: every
operation at both prefixes with bodies validated, the Default group's rules, access,
membership, the 10 000 limit, concurrent moves, bad input, and the rule routing asks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from runnerhub.domain import accounts, group_access
from runnerhub.domain.group_access import Workflow
from runnerhub.storage import runner_groups as group_rows
from runnerhub.storage.tables import runner_groups, runners
from runnerhub.testing import Runnerhub
from tests.contract import validate
from tests.factories import World, unique
from tests.helpers import auth, checked
from tests.server import ServerProcess

PREFIXES = ["", "/api/v3"]


@dataclass
class Org:
    login: str
    admin: str
    token: str
    enterprise: str | None = None

    def base(self, prefix: str = "") -> str:
        return f"{prefix}/orgs/{self.login}/actions/runner-groups"


@dataclass
class Enterprise:
    slug: str
    owner: str
    token: str

    def base(self, prefix: str = "") -> str:
        return f"{prefix}/enterprises/{self.slug}/actions/runner-groups"


@pytest.fixture
def org(world: World) -> Org:
    admin = world.user()
    return Org(world.org(admin), admin, world.token(admin, scopes=["admin:org", "repo"]))


@pytest.fixture
def ent(world: World) -> Enterprise:
    owner = world.user()
    return Enterprise(
        world.enterprise(owner), owner, world.token(owner, scopes=["manage_runners:enterprise"])
    )


def repo_id(world: World, full_name: str) -> int:
    return world.scope("repo", full_name).subject_id


def org_id(world: World, login: str) -> int:
    return world.scope("org", login).subject_id


def create(client: httpx.Client, base: str, token: str, **body: object) -> dict[str, object]:
    body.setdefault("name", unique("group"))
    return dict(checked(client, "POST", base, 201, token, json=body).json())


def group_of(world: World, kind: str, name: str, runner_id: int) -> int:
    scope = world.scope(kind, name)
    return int(
        world.db.read(
            lambda c: c.execute(
                select(runner_groups.c.number)
                .join(runners, runners.c.group_id == runner_groups.c.id)
                .where(runners.c.id == runner_id, runners.c.scope_id == scope.id)
            ).scalar_one()
        )
    )


# -- CRUD and the Default group


@pytest.mark.parametrize("prefix", PREFIXES)
def test_organization_group_lifecycle(
    client: httpx.Client, world: World, org: Org, prefix: str
) -> None:
    base, token = org.base(prefix), org.token
    listed = checked(client, "GET", base, 200, token).json()
    assert listed["total_count"] == 1
    default = listed["runner_groups"][0]
    assert (default["id"], default["name"], default["default"], default["visibility"]) == (
        1,
        "Default",
        True,
        "all",
    )
    assert default["inherited"] is False
    assert default["allows_public_repositories"] is True
    name = unique("Builders")
    made = create(client, base, token, name=name, visibility="private")
    assert made["id"] not in (1, 2)
    assert made["default"] is False
    assert made["allows_public_repositories"] is False
    assert "selected_repositories_url" not in made
    assert str(made["runners_url"]).endswith(f"/runner-groups/{made['id']}/runners")
    url = f"{base}/{made['id']}"
    assert checked(client, "GET", url, 200, token).json() == made
    changed = checked(
        client,
        "PATCH",
        url,
        200,
        token,
        json={
            "name": name + "-2",
            "visibility": "selected",
            "allows_public_repositories": True,
            "restricted_to_workflows": True,
            "selected_workflows": [f"{org.login}/app/.github/workflows/ci.yml@main"],
        },
    ).json()
    assert changed["name"] == name + "-2"
    assert changed["visibility"] == "selected"
    assert str(changed["selected_repositories_url"]).endswith(f"/{made['id']}/repositories")
    assert changed["selected_workflows"] == [f"{org.login}/app/.github/workflows/ci.yml@main"]
    if not prefix:  # GHES has no GitHub-hosted runners in its description
        hosted = checked(client, "GET", f"{url}/hosted-runners", 200, token).json()
        assert hosted == {"total_count": 0, "runners": []}
    checked(client, "DELETE", url, 204, token)
    assert client.get(url, headers=auth(token)).status_code == 404


@pytest.mark.parametrize("prefix", PREFIXES)
def test_enterprise_group_lifecycle(
    client: httpx.Client, world: World, ent: Enterprise, prefix: str
) -> None:
    base, token = ent.base(prefix), ent.token
    default = checked(client, "GET", base, 200, token).json()["runner_groups"][0]
    assert default["id"] == 1
    assert default["allows_public_repositories"] is False
    assert "inherited" not in default
    made = create(client, base, token, visibility="selected")
    assert str(made["selected_organizations_url"]).endswith(f"/{made['id']}/organizations")
    url = f"{base}/{made['id']}"
    checked(client, "GET", url, 200, token)
    changed = checked(client, "PATCH", url, 200, token, json={"visibility": "all"}).json()
    assert changed["visibility"] == "all"
    assert "selected_organizations_url" not in changed
    checked(client, "PATCH", url, 200, token)  # the enterprise's body is optional
    checked(client, "DELETE", url, 204, token)


@pytest.mark.parametrize("kind", ["org", "enterprise"])
def test_default_group_cannot_be_deleted_or_renamed(
    client: httpx.Client, org: Org, ent: Enterprise, kind: str
) -> None:
    owner = org if kind == "org" else ent
    url, headers = f"{owner.base()}/1", auth(owner.token)
    deleted = client.delete(url, headers=headers)
    assert deleted.status_code == 422
    assert "default runner group" in deleted.json()["message"]
    renamed = client.patch(url, json={"name": "Other"}, headers=headers)
    assert renamed.status_code == 422
    assert "cannot be renamed" in renamed.json()["message"]
    kept = client.patch(url, json={"name": "Default", "visibility": "all"}, headers=headers)
    assert kept.status_code == 200
    assert kept.json()["name"] == "Default"


def test_names_are_unique_per_scope_case_insensitively(
    client: httpx.Client, world: World, org: Org
) -> None:
    name = unique("Team")
    create(client, org.base(), org.token, name=name)
    again = client.post(org.base(), json={"name": name.upper()}, headers=auth(org.token))
    assert again.status_code == 409
    assert "already exists" in again.json()["message"]
    assert (
        client.post(org.base(), json={"name": "default"}, headers=auth(org.token)).status_code
        == 409
    )
    other = create(client, org.base(), org.token)
    clash = client.patch(
        f"{org.base()}/{other['id']}", json={"name": name.lower()}, headers=auth(org.token)
    )
    assert clash.status_code == 409
    # Another organization may use the name.
    admin = world.user()
    elsewhere = Org(world.org(admin), admin, world.token(admin, scopes=["admin:org"]))
    create(client, elsewhere.base(), elsewhere.token, name=name)


def test_paging_with_link(client: httpx.Client, org: Org) -> None:
    for _ in range(4):
        create(client, org.base(), org.token)
    first = checked(client, "GET", f"{org.base()}?per_page=2", 200, org.token)
    assert first.json()["total_count"] == 5
    assert len(first.json()["runner_groups"]) == 2
    assert 'rel="next"' in first.headers["Link"]
    assert "page=3" in first.headers["Link"]
    last = checked(client, "GET", f"{org.base()}?per_page=2&page=3", 200, org.token).json()
    assert len(last["runner_groups"]) == 1
    assert "Link" not in client.get(org.base(), headers=auth(org.token)).headers


# -- who may use a group


@pytest.mark.parametrize("prefix", PREFIXES)
def test_repository_access(client: httpx.Client, world: World, org: Org, prefix: str) -> None:
    repos = [world.repo(org.login) for _ in range(3)]
    ids = [repo_id(world, r) for r in repos]
    made = create(
        client, org.base(prefix), org.token, visibility="selected", selected_repository_ids=ids[:1]
    )
    access = f"{org.base(prefix)}/{made['id']}/repositories"
    listed = checked(client, "GET", access, 200, org.token).json()
    assert [r["id"] for r in listed["repositories"]] == ids[:1]
    checked(client, "PUT", access, 204, org.token, json={"selected_repository_ids": ids[1:]})
    checked(client, "PUT", f"{access}/{ids[0]}", 204, org.token)
    checked(client, "DELETE", f"{access}/{ids[1]}", 204, org.token)
    listed = checked(client, "GET", f"{access}?per_page=1", 200, org.token)
    assert listed.json()["total_count"] == 2
    assert "Link" in listed.headers
    names = [r["name"] for r in client.get(access, headers=auth(org.token)).json()["repositories"]]
    assert names == [repos[0].split("/")[1], repos[2].split("/")[1]]
    # A repository of another owner is not found, and nothing changes.
    stranger = repo_id(world, world.repo(world.user()))
    bad = {"selected_repository_ids": [ids[0], stranger]}
    assert client.put(access, json=bad, headers=auth(org.token)).status_code == 404
    assert client.put(f"{access}/{stranger}", headers=auth(org.token)).status_code == 404
    assert client.get(access, headers=auth(org.token)).json()["total_count"] == 2


def test_access_needs_visibility_selected(client: httpx.Client, world: World, org: Org) -> None:
    made = create(client, org.base(), org.token)
    rid = repo_id(world, world.repo(org.login))
    refused = client.put(f"{org.base()}/{made['id']}/repositories/{rid}", headers=auth(org.token))
    assert refused.status_code == 422
    assert "selected" in refused.json()["message"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_organization_access_and_inherited_groups(
    client: httpx.Client, world: World, ent: Enterprise, prefix: str
) -> None:
    member = Org(
        world.org(ent.owner, enterprise=ent.slug),
        ent.owner,
        world.token(ent.owner, scopes=["admin:org"]),
        ent.slug,
    )
    other = world.org(ent.owner, enterprise=ent.slug)
    shared = create(
        client,
        ent.base(prefix),
        ent.token,
        visibility="selected",
        selected_organization_ids=[org_id(world, member.login)],
    )
    hidden = create(client, ent.base(prefix), ent.token, visibility="selected")
    access = f"{ent.base(prefix)}/{shared['id']}/organizations"
    orgs = checked(client, "GET", access, 200, ent.token).json()["organizations"]
    assert [o["login"] for o in orgs] == [member.login]
    # Shared with the organization: listed there, inherited and read-only.
    seen = checked(client, "GET", member.base(prefix), 200, member.token).json()
    inherited = [g for g in seen["runner_groups"] if g["inherited"]]
    assert [g["id"] for g in inherited] == [shared["id"]]
    assert inherited[0]["workflow_restrictions_read_only"] is True
    assert "inherited_allows_public_repositories" in inherited[0]
    url = f"{member.base(prefix)}/{shared['id']}"
    checked(client, "GET", url, 200, member.token)
    headers = auth(member.token)
    assert client.patch(url, json={"name": "x"}, headers=headers).status_code == 403
    assert client.delete(url, headers=headers).status_code == 403
    assert client.get(f"{member.base(prefix)}/{hidden['id']}", headers=headers).status_code == 404
    # visible_to_organization, then set/add/remove.
    filtered = checked(
        client, "GET", f"{ent.base(prefix)}?visible_to_organization={other}", 200, ent.token
    ).json()
    assert shared["id"] not in [g["id"] for g in filtered["runner_groups"]]
    checked(
        client,
        "PUT",
        access,
        204,
        ent.token,
        json={"selected_organization_ids": [org_id(world, other)]},
    )
    checked(client, "PUT", f"{access}/{org_id(world, member.login)}", 204, ent.token)
    checked(client, "DELETE", f"{access}/{org_id(world, other)}", 204, ent.token)
    assert checked(client, "GET", access, 200, ent.token).json()["total_count"] == 1
    outsider = org_id(world, world.org(world.user()))
    assert client.put(f"{access}/{outsider}", headers=auth(ent.token)).status_code == 404


def test_visible_to_repository(client: httpx.Client, world: World, org: Org) -> None:
    private = world.repo(org.login, private=True)
    public = world.repo(org.login)
    chosen = create(
        client,
        org.base(),
        org.token,
        visibility="selected",
        selected_repository_ids=[repo_id(world, private)],
    )
    only_private = create(client, org.base(), org.token, visibility="private")
    everyone = create(client, org.base(), org.token, allows_public_repositories=True)

    def visible(repo: str) -> set[object]:
        name = repo.split("/")[1]
        body = checked(
            client, "GET", f"{org.base()}?visible_to_repository={name}", 200, org.token
        ).json()
        return {g["id"] for g in body["runner_groups"]}

    assert visible(private) == {1, chosen["id"], only_private["id"], everyone["id"]}
    assert visible(public) == {1, everyone["id"]}
    assert visible(f"{org.login}/no-such-repo") == set()


# -- runners in groups


@pytest.mark.parametrize("kind", ["org", "enterprise"])
@pytest.mark.parametrize("prefix", PREFIXES)
def test_runner_membership(
    client: httpx.Client, world: World, org: Org, ent: Enterprise, kind: str, prefix: str
) -> None:
    owner = org if kind == "org" else ent
    name = org.login if kind == "org" else ent.slug
    base, token = owner.base(prefix), owner.token
    ids = world.runners(world.scope(kind, name), 3)
    made = create(client, base, token, runners=ids[:1])
    members = f"{base}/{made['id']}/runners"
    listed = checked(client, "GET", members, 200, token).json()
    assert [r["id"] for r in listed["runners"]] == ids[:1]
    assert listed["runners"][0]["runner_group_id"] == made["id"]
    checked(client, "PUT", members, 204, token, json={"runners": ids[1:]})
    assert group_of(world, kind, name, ids[0]) == 1  # left for Default
    checked(client, "PUT", f"{members}/{ids[0]}", 204, token)
    checked(client, "DELETE", f"{members}/{ids[1]}", 204, token)
    paged = checked(client, "GET", f"{members}?per_page=1", 200, token)
    assert paged.json()["total_count"] == 2
    assert "Link" in paged.headers
    # Deleting the group returns its runners to Default.
    checked(client, "DELETE", f"{base}/{made['id']}", 204, token)
    assert {group_of(world, kind, name, r) for r in ids} == {1}
    assert checked(client, "GET", f"{base}/1/runners", 200, token).json()["total_count"] == 3


def test_group_runner_pages_in_id_order_front_and_back(
    client: httpx.Client, world: World, org: Org
) -> None:
    ids = world.runners(world.scope("org", org.login), 7)
    made = create(client, org.base(""), org.token, runners=ids)
    members = f"{org.base('')}/{made['id']}/runners"
    pages = [
        [r["id"] for r in checked(client, "GET", f"{members}?per_page=3&page={n}", 200,
                                  org.token).json()["runners"]]
        for n in (1, 2, 3, 4)
    ]  # fmt: skip
    assert pages == [sorted(ids)[:3], sorted(ids)[3:6], sorted(ids)[6:], []]


def test_runner_of_another_scope_is_not_found(client: httpx.Client, world: World, org: Org) -> None:
    admin = world.user()
    foreign = world.runners(world.scope("org", world.org(admin)), 1)[0]
    mine = world.runners(world.scope("org", org.login), 1)[0]
    made = create(client, org.base(), org.token)
    members = f"{org.base()}/{made['id']}/runners"
    assert client.put(f"{members}/{foreign}", headers=auth(org.token)).status_code == 404
    refused = client.put(members, json={"runners": [mine, foreign]}, headers=auth(org.token))
    assert refused.status_code == 404
    assert group_of(world, "org", org.login, mine) == 1  # no partial write
    made_with = client.post(
        org.base(), json={"name": unique("g"), "runners": [foreign]}, headers=auth(org.token)
    )
    assert made_with.status_code == 404


def test_at_most_10000_runners_per_group(client: httpx.Client, world: World, org: Org) -> None:
    scope = world.scope("org", org.login)
    made = create(client, org.base(), org.token)
    now = world.now()

    def seed(conn: object) -> None:
        group = group_rows.one(conn, scope.id, int(made["id"]))  # type: ignore[arg-type]
        assert group is not None
        rows = [
            dict(
                scope_id=scope.id,
                group_id=group.id,
                name=f"bulk-{i}",
                name_lower=f"bulk-{i}",
                os="linux",
                ephemeral=False,
                work_folder="_work",
                created_at=now,
            )
            for i in range(10_000)
        ]
        conn.execute(insert(runners), rows)  # type: ignore[attr-defined]

    world.db.write(seed)  # type: ignore[arg-type]
    extra = world.runners(scope, 1)[0]
    members = f"{org.base()}/{made['id']}/runners"
    full = client.put(f"{members}/{extra}", headers=auth(org.token))
    assert full.status_code == 422
    assert "10000" in full.json()["message"]
    listed = checked(client, "GET", f"{members}?per_page=30&page=300", 200, org.token).json()
    assert listed["total_count"] == 10_000
    assert len(listed["runners"]) == 30
    too_many = client.put(
        members, json={"runners": list(range(1, 10_002))}, headers=auth(org.token)
    )
    assert too_many.status_code == 422
    jit = client.post(
        f"/orgs/{org.login}/actions/runners/generate-jitconfig",
        json={"name": "one-too-many", "runner_group_id": made["id"], "labels": ["self-hosted"]},
        headers=auth(org.token),
    )
    assert jit.status_code == 422  # nor by a JIT config
    assert "10000" in jit.json()["message"]
    named = client.get(
        f"/orgs/{org.login}/actions/runners",
        params={"name": "one-too-many"},
        headers=auth(org.token),
    )
    assert named.json()["total_count"] == 0  # nothing was made
    checked(client, "DELETE", f"{org.base()}/{made['id']}", 204, org.token)


def test_concurrent_moves_of_one_runner(client: httpx.Client, world: World, org: Org) -> None:
    runner = world.runners(world.scope("org", org.login), 1)[0]
    groups = [create(client, org.base(), org.token)["id"] for _ in range(4)]

    def move(i: int) -> int:
        group = groups[i % len(groups)]
        url = f"{org.base()}/{group}/runners/{runner}"
        return client.put(url, headers=auth(org.token)).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(move, range(40))) == {204}
    final = group_of(world, "org", org.login, runner)
    assert final in groups
    counts = [
        client.get(f"{org.base()}/{g}/runners", headers=auth(org.token)).json()["total_count"]
        for g in [1, *groups]
    ]
    assert sum(counts) == 1


# -- bad input


@pytest.mark.parametrize(
    "path",
    [
        "/999999",
        "/18446744073709551616",
        "/99999999999999999999999",
        "/2",
        "/999999/runners",
        "/999999/repositories",
    ],
)
def test_unknown_groups_are_not_found(client: httpx.Client, org: Org, path: str) -> None:
    assert client.get(org.base() + path, headers=auth(org.token)).status_code == 404


def test_group_of_another_scope_is_not_found(
    client: httpx.Client, world: World, org: Org, ent: Enterprise
) -> None:
    theirs = create(client, ent.base(), ent.token)
    assert client.get(f"{org.base()}/{theirs['id']}", headers=auth(org.token)).status_code == 404
    assert client.delete(f"{org.base()}/{theirs['id']}", headers=auth(org.token)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": 5},
        {"name": ""},
        {"name": "x" * 256},
        {"name": "v", "visibility": "public"},
        {"name": "v", "runners": "1"},
        {"name": "v", "runners": [True]},
        {"name": "v", "allows_public_repositories": "yes"},
        {"name": "v", "selected_workflows": ["ci.yml"]},
        {"name": "v", "selected_repository_ids": [1.5]},
    ],
)
def test_bad_bodies_write_nothing(client: httpx.Client, org: Org, body: dict[str, object]) -> None:
    before = client.get(org.base(), headers=auth(org.token)).json()["total_count"]
    response = client.post(org.base(), json=body, headers=auth(org.token))
    assert response.status_code == 422, response.text
    assert client.get(org.base(), headers=auth(org.token)).json()["total_count"] == before


def test_enterprise_refuses_private_visibility(client: httpx.Client, ent: Enterprise) -> None:
    response = client.post(
        ent.base(), json={"name": "p", "visibility": "private"}, headers=auth(ent.token)
    )
    assert response.status_code == 422


def test_organization_update_requires_a_name(client: httpx.Client, org: Org) -> None:
    made = create(client, org.base(), org.token)
    response = client.patch(f"{org.base()}/{made['id']}", json={}, headers=auth(org.token))
    assert response.status_code == 422


def test_permissions(client: httpx.Client, world: World, org: Org) -> None:
    reader = world.token(
        org.admin, permissions=[("organization_self_hosted_runners", "read")], org=org.login
    )
    assert client.get(org.base(), headers=auth(reader)).status_code == 200
    refused = client.post(org.base(), json={"name": "r"}, headers=auth(reader))
    assert refused.status_code == 403
    assert (
        refused.headers["X-Accepted-GitHub-Permissions"] == "organization_self_hosted_runners=write"
    )
    no_scope = world.token(org.admin, scopes=["repo"])
    assert client.get(org.base(), headers=auth(no_scope)).status_code == 403


# -- placing runners: generate-jitconfig


def test_jitconfig_uses_groups_of_its_own_scope(
    client: httpx.Client, world: World, org: Org, ent: Enterprise
) -> None:
    made = create(client, org.base(), org.token)
    theirs = create(client, ent.base(), ent.token)
    url = f"/orgs/{org.login}/actions/runners/generate-jitconfig"

    def jit(group: object) -> httpx.Response:
        body = {"name": unique("jit"), "runner_group_id": group, "labels": ["self-hosted"]}
        return client.post(url, json=body, headers=auth(org.token))

    placed = jit(made["id"])
    assert placed.status_code == 201
    assert placed.json()["runner"]["runner_group_id"] == made["id"]
    assert jit(2).status_code == 403  # GitHub's hosted group
    assert jit(theirs["id"]).status_code == 404
    assert jit(424242424242).status_code == 404


# -- the rule routing asks (domain/group_access.py)


def test_which_groups_serve_a_repository(world: World) -> None:
    owner = world.user()
    enterprise = world.enterprise(owner)
    login = world.org(owner, enterprise=enterprise)
    other_org = world.org(owner, enterprise=enterprise)
    private = world.scope("repo", world.repo(login, private=True))
    public = world.scope("repo", world.repo(login))
    org_scope, ent_scope = world.scope("org", login), world.scope("enterprise", enterprise)
    workflow = f"{private.name}/.github/workflows/ci.yml@main"

    def make(scope_id: int, **values: object) -> int:
        def work(conn: object) -> int:
            row = group_rows.insert(
                conn,
                scope_id,
                name=unique("g"),
                visibility=str(values.get("visibility", "all")),  # type: ignore[arg-type]
                allows_public_repositories=bool(values.get("public", False)),
                restricted_to_workflows=bool(values.get("workflows")),
                selected_workflows=values.get("workflows", ()),  # type: ignore[arg-type]
            )
            assert row is not None
            for kind, ids in (
                ("repositories", values.get("repos")),
                ("organizations", values.get("orgs")),
            ):
                if ids:
                    group_rows.set_selected(conn, kind, row.id, ids)  # type: ignore[arg-type]
            return row.id

        return world.db.write(work)  # type: ignore[arg-type]

    everyone = make(org_scope.id)
    everyone_public = make(org_scope.id, public=True)
    selected = make(org_scope.id, visibility="selected", repos=[private.subject_id])
    private_only = make(org_scope.id, visibility="private", public=True)
    restricted = make(org_scope.id, workflows=[workflow])
    shared = make(ent_scope.id, visibility="selected", orgs=[org_scope.subject_id], public=True)
    elsewhere = make(
        ent_scope.id, visibility="selected", orgs=[world.scope("org", other_org).subject_id]
    )
    ent_all = make(ent_scope.id)

    def usable(repo: object, wf: Workflow | None = None) -> frozenset[int]:
        return world.db.transact(
            lambda uow: group_access.usable_group_ids(uow, repo, wf), write=False
        )  # type: ignore[arg-type]

    for_private = usable(private, Workflow(".github/workflows/ci.yml", "refs/heads/main"))
    assert {
        everyone,
        everyone_public,
        selected,
        private_only,
        restricted,
        shared,
        ent_all,
    } <= for_private
    assert elsewhere not in for_private
    other_workflow = usable(private, Workflow(".github/workflows/deploy.yml"))
    assert restricted not in other_workflow
    assert everyone in other_workflow
    for_public = usable(public)
    assert everyone_public in for_public
    assert shared in for_public
    assert not {everyone, selected, private_only, ent_all, elsewhere} & for_public
    allowed = world.db.transact(
        lambda uow: group_access.may_run(uow, public, everyone), write=False
    )
    assert allowed is False


# -- a client written for GitHub


def test_githubkit_flow(world: World, org: Org, server: ServerProcess) -> None:
    from githubkit import GitHub

    gh = GitHub(org.token, base_url=server.url, http_cache=False)
    actions = gh.rest.actions
    made = actions.create_self_hosted_runner_group_for_org(
        org.login, name=unique("kit"), visibility="selected"
    ).parsed_data
    listed = actions.list_self_hosted_runner_groups_for_org(org.login).parsed_data
    assert made.id in [g.id for g in listed.runner_groups]
    repo = world.repo(org.login)
    actions.add_repo_access_to_self_hosted_runner_group_in_org(
        org.login, int(made.id), repo_id(world, repo)
    )
    access = actions.list_repo_access_to_self_hosted_runner_group_in_org(
        org.login, int(made.id)
    ).parsed_data
    assert [r.full_name for r in access.repositories] == [repo]
    runner = world.runners(world.scope("org", org.login), 1)[0]
    actions.add_self_hosted_runner_to_group_for_org(org.login, int(made.id), runner)
    members = actions.list_self_hosted_runners_in_group_for_org(org.login, int(made.id)).parsed_data
    assert [r.id for r in members.runners] == [runner]
    actions.delete_self_hosted_runner_group_from_org(org.login, int(made.id))
    assert group_of(world, "org", org.login, runner) == 1


def test_pygithub_places_a_jit_runner_in_a_group(
    client: httpx.Client, org: Org, server: ServerProcess
) -> None:
    """PyGithub has no runner-group calls of its own: autoscalers on it look the group up
    over REST (as here) and pass its id to generate-jitconfig."""
    from github import Auth, Github

    made = create(client, org.base(), org.token)
    gh = Github(base_url=server.url, auth=Auth.Token(org.token))
    groups = gh.requester.requestJsonAndCheck("GET", f"/orgs/{org.login}/actions/runner-groups")[1]
    [found] = [g for g in groups["runner_groups"] if g["name"] == made["name"]]
    organization = gh.get_organization(org.login)
    config = organization.create_self_hosted_runner_jitconfig(
        unique("py"), found["id"], ["self-hosted", "linux"]
    )
    assert config.runner.runner_group_id == made["id"]
    [listed] = [r for r in organization.get_self_hosted_runners() if r.id == config.runner.id]
    assert listed.runner_group_id == made["id"]


# -- routing, end to end: the real server, a real agent


GROUP_CI = """name: CI
on: push
jobs:
  deploy:
    runs-on: [self-hosted, deploy]
    steps:
      - run: echo deployed
"""


def _ok(response: httpx.Response, status: int = 200) -> Any:
    """The body of a response of `status`, valid against GitHub's description."""
    assert response.status_code == status, response.text
    path = response.request.url.path
    body = response.json()
    validate(path, response.request.method.lower(), status, body)
    return body


def test_jobs_go_only_to_runners_whose_group_serves_the_repository(runnerhub: Runnerhub) -> None:
    site = runnerhub.seed(private=True)
    other = replace(site, repo=f"{site.org}/gadgets")
    runnerhub.db.transact(
        lambda uow: accounts.create_repo(
            uow, other.repo, datetime.now(UTC), admin=site.user, private=True
        )
    )
    with site.api() as api:
        repo_ids = [api.get(f"/repos/{name}").json()["id"] for name in (site.repo, other.repo)]
        group = _ok(api.post(f"/orgs/{site.org}/actions/runner-groups", json={
            "name": "deployers", "visibility": "selected", "selected_repository_ids": repo_ids[:1],
        }), 201)  # fmt: skip
        runnerhub.start_agent(site, name="deployer", labels=["deploy"])
        runner = _ok(api.get(f"/orgs/{site.org}/actions/runners", params={"name": "deployer"}))
        runner_id = runner["runners"][0]["id"]
        groups = f"/orgs/{site.org}/actions/runner-groups/{group['id']}"
        assert api.put(f"{groups}/runners/{runner_id}").status_code == 204

        runnerhub.put_workflow(other, "ci.yml", GROUP_CI)  # queued first, for gadgets
        runnerhub.put_workflow(site, "ci.yml", GROUP_CI)
        done = runnerhub.wait_for_run(site, status="completed")
        assert done["conclusion"] == "success"
        waiting = runnerhub.runs(other)[0]
        assert waiting["status"] == "queued"  # the idle runner's group does not serve gadgets
        jobs = _ok(api.get(f"/repos/{other.repo}/actions/runs/{waiting['id']}/jobs"))
        assert jobs["jobs"][0]["runner_id"] is None

        # Sharing the group with gadgets wakes the idle agent, well before its poll would end.
        assert api.put(f"{groups}/repositories/{repo_ids[1]}").status_code == 204
        ran = runnerhub.wait_for_run(other, status="completed", timeout=10)
        jobs = _ok(api.get(f"/repos/{other.repo}/actions/runs/{ran['id']}/jobs"))
        assert (jobs["jobs"][0]["runner_name"], jobs["jobs"][0]["runner_group_id"]) == (
            "deployer",
            group["id"],
        )
