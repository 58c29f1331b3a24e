"""What a hostile client can send: forged Host headers, and guesses at credentials."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from runnerhub.storage.database import Database
from tests.factories import World
from tests.helpers import auth
from tests.server import ServerProcess, start_server

FORGED = {"Host": "evil.example:666"}


def test_a_forged_host_header_reaches_no_url_the_server_hands_out(
    server: ServerProcess, world: World
) -> None:
    admin = world.user()
    org = world.org(admin)
    world.runners(world.scope("org", org), 3)
    headers = {**auth(world.token(admin, scopes=["admin:org"])), **FORGED}
    with httpx.Client(base_url=server.url) as http:
        body = {"name": "forged", "runner_group_id": 1, "labels": ["self-hosted"]}
        jit = f"/orgs/{org}/actions/runners/generate-jitconfig"
        made = http.post(jit, json=body, headers=headers)
        assert made.status_code == 201
        blob = json.loads(base64.b64decode(made.json()["encoded_jit_config"]))
        files = "".join(base64.b64decode(content).decode() for content in blob.values())
        paged = http.get(f"/orgs/{org}/actions/runners?per_page=1", headers=headers)
        token = http.post(f"/orgs/{org}/actions/runners/registration-token", headers=headers)
        registration = http.post(
            "/actions/runner-registration",
            json={"url": f"{server.url}/{org}", "runner_event": "register"},
            headers={"Authorization": f"RemoteAuth {token.json()['token']}", **FORGED},
        )
        profile = http.get(f"/orgs/{org}", headers=headers)
    handed_out = files + paged.headers["Link"] + registration.text + profile.text
    assert "evil.example" not in handed_out
    assert f"{server.url}/" in files
    assert paged.headers["Link"].startswith(f"<{server.url}/orgs/{org}/actions/runners?")
    assert registration.json()["url"] == server.url


@pytest.fixture
def wary(db: Database, database_url: str, workdir: Path) -> Iterator[ServerProcess]:
    if not db.is_sqlite:  # failed logins are counted across every server on the database
        db.write(
            lambda conn: conn.execute(text("DELETE FROM rate_limits WHERE key LIKE 'login:%'"))
        )
    process = start_server(database_url, workdir, failed_logins_per_hour="3")
    yield process
    process.stop()


def test_wrong_credentials_are_counted_per_address_and_then_refused_unread(
    wary: ServerProcess, world: World
) -> None:
    admin = world.user()
    org = world.org(admin)
    good = auth(world.token(admin, scopes=["admin:org"]))
    path = f"/orgs/{org}/actions/runners"
    with httpx.Client(base_url=wary.url) as http:
        assert http.get(path, headers=good).status_code == 200  # a success counts nothing
        assert http.get(path).status_code == 401  # nor does asking without credentials
        assert http.get(path, headers=auth("ghp_wrong")).status_code == 401
        bogus = http.post(
            "/actions/runner-registration",
            json={"url": f"{wary.url}/{org}", "runner_event": "register"},
            headers={"Authorization": "RemoteAuth NOTATOKEN"},
        )
        assert bogus.status_code == 401  # a bogus registration token counts too
        assert http.get(path, headers=auth("ghp_wrong-again")).status_code == 401
        for headers in (auth("ghp_wrong"), good):  # now even a good token is not read
            refused = http.get(path, headers=headers)
            assert refused.status_code == 403
            assert refused.json()["message"] == (
                "Maximum number of login attempts exceeded. Please try again later."
            )
        assert http.get("/meta").status_code == 200  # anonymous calls still work
