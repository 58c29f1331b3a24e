"""Who may call the runner endpoints: the token's grant and the user's role, together."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
import pytest

from tests.factories import World
from tests.helpers import ALL_SCOPES, auth

ORG_RUNNERS = "organization_self_hosted_runners"


def status(client: httpx.Client, method: str, path: str, headers: dict[str, str]) -> int:
    return client.request(method, path, headers=headers).status_code


@pytest.fixture
def org_setup(world: World) -> dict[str, str]:
    admin, member, outsider = world.user(), world.user(), world.user()
    org = world.org(admin, members=[member])
    runner = world.runners(world.scope("org", org), 1)[0]
    return {
        "admin": admin,
        "member": member,
        "outsider": outsider,
        "org": org,
        "runners": f"/orgs/{org}/actions/runners",
        "runner": str(runner),
    }


def test_no_token_bad_token_expired_token(
    client: httpx.Client, world: World, org_setup: dict[str, str]
) -> None:
    path = org_setup["runners"]
    none = client.get(path)
    assert (none.status_code, none.json()["message"]) == (401, "Requires authentication")
    bad = client.get(path, headers=auth("ghp_" + "x" * 36))
    assert (bad.status_code, bad.json()["message"]) == (401, "Bad credentials")
    expired = world.token(org_setup["admin"], scopes=ALL_SCOPES, expires_in=timedelta(seconds=-1))
    assert status(client, "GET", path, auth(expired)) == 401
    assert status(client, "GET", path, {"Authorization": "Digest abc"}) == 401


def test_auth_header_forms(client: httpx.Client, world: World, org_setup: dict[str, str]) -> None:
    token = world.token(org_setup["admin"], scopes=["admin:org"])
    basic = base64.b64encode(f"github:{token}".encode()).decode()
    for header in (f"Bearer {token}", f"token {token}", f"Basic {basic}"):
        assert status(client, "GET", org_setup["runners"], {"Authorization": header}) == 200


def test_classic_scope_required(
    client: httpx.Client, world: World, org_setup: dict[str, str]
) -> None:
    token = world.token(org_setup["admin"], scopes=["repo", "read:org"])
    response = client.get(org_setup["runners"], headers=auth(token))
    assert response.status_code == 403
    assert response.json()["message"] == "Must have admin rights to Repository."
    assert response.headers["X-Accepted-OAuth-Scopes"] == "admin:org"
    assert response.headers["X-OAuth-Scopes"] == "read:org, repo"


def test_member_and_outsider_are_refused(
    client: httpx.Client, world: World, org_setup: dict[str, str]
) -> None:
    for who in ("member", "outsider"):
        token = world.token(org_setup[who], scopes=ALL_SCOPES)
        assert status(client, "GET", org_setup["runners"], auth(token)) == 403
        path = f"{org_setup['runners']}/registration-token"
        assert status(client, "POST", path, auth(token)) == 403


def test_fine_grained_read_versus_write(
    client: httpx.Client, world: World, org_setup: dict[str, str]
) -> None:
    admin, org = org_setup["admin"], org_setup["org"]
    reader = world.token(admin, permissions=[(ORG_RUNNERS, "read")], org=org)
    writer = world.token(admin, permissions=[(ORG_RUNNERS, "write")], org=org)
    path = org_setup["runners"]
    assert status(client, "GET", path, auth(reader)) == 200
    refused = client.post(f"{path}/registration-token", headers=auth(reader))
    assert refused.status_code == 403
    assert refused.json()["message"] == "Resource not accessible by personal access token"
    assert (
        refused.headers["X-Accepted-GitHub-Permissions"] == "organization_self_hosted_runners=write"
    )
    assert status(client, "POST", f"{path}/registration-token", auth(writer)) == 201


def test_fine_grained_token_reaches_only_its_owner(
    client: httpx.Client, world: World, org_setup: dict[str, str]
) -> None:
    admin = org_setup["admin"]
    other = world.org(admin)
    token = world.token(admin, permissions=[(ORG_RUNNERS, "write")], org=other)
    assert status(client, "GET", org_setup["runners"], auth(token)) == 403


def test_fine_grained_repository_tokens(client: httpx.Client, world: World) -> None:
    admin = world.user()
    org = world.org(admin)
    chosen, unchosen = world.repo(org, private=True), world.repo(org, private=True)
    token = world.token(admin, permissions=[("administration", "write")], repos=[chosen])
    assert status(client, "GET", f"/repos/{chosen}/actions/runners", auth(token)) == 200
    assert status(client, "GET", f"/repos/{unchosen}/actions/runners", auth(token)) == 404
    wrong = world.token(admin, permissions=[("administration", "read")], repos=[chosen])
    path = f"/repos/{chosen}/actions/runners/registration-token"
    assert status(client, "POST", path, auth(wrong)) == 403


def test_enterprise_refuses_fine_grained_and_hides_from_strangers(
    client: httpx.Client, world: World
) -> None:
    owner, stranger = world.user(), world.user()
    slug = world.enterprise(owner)
    path = f"/enterprises/{slug}/actions/runners"
    org = world.org(owner, enterprise=slug)
    fine = world.token(owner, permissions=[(ORG_RUNNERS, "write")], org=org)
    assert status(client, "GET", path, auth(fine)) == 403
    assert status(client, "GET", path, auth(world.token(stranger, scopes=ALL_SCOPES))) == 404
    assert status(client, "GET", path, auth(world.token(owner, scopes=["admin:org"]))) == 403
    assert status(client, "GET", path, auth(world.token(owner, scopes=["admin:enterprise"]))) == 200


def test_private_repository_is_invisible_to_outsiders(client: httpx.Client, world: World) -> None:
    owner, reader, outsider = world.user(), world.user(), world.user()
    repo = world.repo(owner, private=True, collaborators=[(reader, "read")])
    path = f"/repos/{repo}/actions/runners"
    assert status(client, "GET", path, auth(world.token(owner, scopes=["repo"]))) == 200
    assert status(client, "GET", path, auth(world.token(reader, scopes=["repo"]))) == 403
    shown = client.get(f"/repos/{repo}", headers=auth(world.token(reader, scopes=["repo"])))
    assert shown.json()["permissions"] == {
        "admin": False,
        "maintain": False,
        "push": False,
        "triage": False,
        "pull": True,
    }
    assert status(client, "GET", path, auth(world.token(outsider, scopes=["repo"]))) == 404
    assert (
        status(client, "GET", f"/repos/{repo}", auth(world.token(outsider, scopes=["repo"]))) == 404
    )
    # Without the repo scope a classic token cannot see private repositories at all.
    assert status(client, "GET", path, auth(world.token(owner, scopes=["public_repo"]))) == 404


def test_org_admins_administer_org_repositories(client: httpx.Client, world: World) -> None:
    admin = world.user()
    org = world.org(admin)
    repo = world.repo(org, private=True)
    token = world.token(admin, scopes=["repo"])
    assert status(client, "POST", f"/repos/{repo}/actions/runners/remove-token", auth(token)) == 201


def test_runner_of_another_scope_is_not_found(client: httpx.Client, world: World) -> None:
    admin = world.user()
    token = world.token(admin, scopes=ALL_SCOPES)
    mine, theirs = world.org(admin), world.org(admin)
    runner = world.runners(world.scope("org", theirs), 1)[0]
    for method in ("GET", "DELETE"):
        path = f"/orgs/{mine}/actions/runners/{runner}"
        assert status(client, method, path, auth(token)) == 404
    assert (
        status(client, "GET", f"/orgs/{mine}/actions/runners/{runner}/labels", auth(token)) == 404
    )
    assert status(client, "GET", f"/orgs/{theirs}/actions/runners/{runner}", auth(token)) == 200


def test_unknown_scopes_are_not_found(client: httpx.Client, world: World) -> None:
    token = world.token(world.user(), scopes=ALL_SCOPES)
    for path in (
        "/orgs/nope-x/actions/runners",
        "/repos/nope/x/actions/runners",
        "/enterprises/nope-x/actions/runners",
    ):
        assert status(client, "GET", path, auth(token)) == 404


def test_a_tokens_stored_grant_counts_from_the_next_request(
    client: httpx.Client, world: World, org_setup: dict[str, str]
) -> None:
    """The parsed grant is kept between requests (auth/authenticate.py), keyed by what the
    token's row holds: a changed or deleted row counts at once."""
    from runnerhub.auth.secrets import hash_token
    from runnerhub.storage.tables import api_tokens

    token = world.token(org_setup["admin"], scopes=["admin:org"])
    mine = api_tokens.c.token_hash == hash_token(token)
    path = org_setup["runners"]
    assert status(client, "GET", path, auth(token)) == 200
    world.db.write(lambda c: c.execute(api_tokens.update().where(mine).values(scopes="repo")))
    assert status(client, "GET", path, auth(token)) == 403
    world.db.write(lambda c: c.execute(api_tokens.update().where(mine).values(scopes="admin:org")))
    assert status(client, "GET", path, auth(token)) == 200
    world.db.write(lambda c: c.execute(api_tokens.delete().where(mine)))
    assert status(client, "GET", path, auth(token)) == 401
