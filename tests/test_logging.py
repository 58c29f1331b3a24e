"""Access and event logs of the real server process, as JSON lines (`--log-format json`) and
as text: every line of a request carries its `X-GitHub-Request-Id`, errors are logged with
their status, and no token ever reaches the log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from runnerhub.log_format import JsonFormatter, RequestFilter
from runnerhub.settings import normalize_database_url
from runnerhub.storage.database import Database
from runnerhub.testing import Runnerhub, eventually
from tests.factories import World
from tests.helpers import auth
from tests.server import ServerProcess, start_server

CI = """\
name: CI
on: push
jobs:
  build:
    runs-on: [self-hosted]
    steps:
      - run: echo logged
"""


@pytest.fixture(scope="module")
def json_server(
    db: Database, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    server = start_server(database_url, tmp_path_factory.mktemp("json-log"), log_format="json")
    yield server
    server.stop()


def lines(server: ServerProcess) -> list[dict[str, Any]]:
    """Every line of the server's output: each one is a JSON object."""
    return [json.loads(line) for line in server.log.read_text().splitlines()]


def of_request(server: ServerProcess, request_id: str) -> list[dict[str, Any]]:
    return [line for line in lines(server) if line["request_id"] == request_id]


def access_line(server: ServerProcess, response: httpx.Response) -> dict[str, Any]:
    request_id = response.headers["x-github-request-id"]

    def find() -> list[dict[str, Any]]:
        return [
            line for line in of_request(server, request_id) if line["logger"] == "runnerhub.access"
        ]

    [line] = eventually(find, bool, 5, f"the access line of {request_id}")
    return line


def test_an_access_line_per_request_with_its_request_id(
    json_server: ServerProcess, world: World
) -> None:
    admin = world.user()
    org = world.org(admin)
    token = world.token(admin, scopes=("admin:org",))
    with httpx.Client(base_url=json_server.url) as http:
        answer = http.get(f"/orgs/{org}/actions/runners", headers=auth(token))
    assert answer.status_code == 200
    line = access_line(json_server, answer)
    assert line["level"] == "INFO"
    assert line["event"] == "request"
    assert line["method"] == "GET"
    assert line["path"] == f"/orgs/{org}/actions/runners"
    assert line["status"] == 200
    assert line["operation_id"] == "actions/list-self-hosted-runners-for-org"
    assert line["user"] == admin
    assert line["client"] == "127.0.0.1"
    assert 0 <= line["duration_ms"] < 30_000
    assert datetime.fromisoformat(line["time"].replace("Z", "+00:00")).tzinfo is not None


def test_errors_are_logged_with_their_status(json_server: ServerProcess, world: World) -> None:
    admin = world.user()
    org = world.org(admin)
    token = world.token(admin, scopes=("admin:org",))
    with httpx.Client(base_url=json_server.url, headers=auth(token)) as http:
        missing = http.get(f"/orgs/{org}/actions/runners/999999")
        invalid = http.post(f"/orgs/{org}/actions/runners/generate-jitconfig", json={})
        nowhere = http.get("/no/such/path")
        unversioned = http.get("/api/v3/meta", headers={"X-GitHub-Api-Version": "1999-01-01"})
    assert (missing.status_code, invalid.status_code, nowhere.status_code) == (404, 422, 404)
    assert access_line(json_server, missing)["status"] == 404
    assert access_line(json_server, missing)["operation_id"] == (
        "actions/get-self-hosted-runner-for-org"
    )
    assert access_line(json_server, invalid)["status"] == 422
    assert access_line(json_server, invalid)["user"] == admin
    unknown = access_line(json_server, nowhere)
    assert (unknown["status"], unknown["operation_id"]) == (404, None)
    assert access_line(json_server, unversioned)["status"] == 400
    assert access_line(json_server, unversioned)["path"] == "/api/v3/meta"


def test_event_lines_carry_the_request_id_and_no_token_is_ever_logged(
    json_server: ServerProcess, database_url: str
) -> None:
    db = Database(normalize_database_url(database_url))
    hub = Runnerhub(json_server, db, json_server.log.parent)
    try:
        site = hub.seed()
        with site.api() as api:
            registration = api.post(f"/orgs/{site.org}/actions/runners/registration-token")
            made = api.post(
                f"/orgs/{site.org}/actions/runners/generate-jitconfig",
                json={"name": "jit-logged", "runner_group_id": 1, "labels": ["self-hosted"]},
            )
            wrong = api.get("/user", headers=auth("ghp_" + "x" * 36))
        assert (registration.status_code, made.status_code, wrong.status_code) == (201, 201, 401)
        registered = [
            line for line in of_request(json_server, made.headers["x-github-request-id"])
            if line.get("event") == "runner.registered"
        ]  # fmt: skip
        assert [line["runner_name"] for line in registered] == ["jit-logged"]
        assert registered[0]["logger"] == "runnerhub.events"
        assert registered[0]["scope"] == site.org

        agent = hub.start_agent(site, name="logged-agent")
        hub.put_workflow(site, "ci.yml", CI)
        run = hub.wait_for_run(site, status="completed")
        assert run["conclusion"] == "success"
        assert agent.stop() == 0
        events = eventually(
            lambda: {line.get("event") for line in lines(json_server)},
            lambda seen: "session.closed" in seen,
            10,
            "the session closed",
        )
        assert {
            "runner.registered", "session.opened", "job.assigned", "job.completed",
            "session.closed",
        } <= events  # fmt: skip
        completed = [line for line in lines(json_server) if line.get("event") == "job.completed"]
        assert completed[-1]["conclusion"] == "success"
        assert all(line["request_id"] for line in completed)  # logged for the agent's request

        text = json_server.log.read_text()
        secrets = [
            site.token,
            registration.json()["token"],
            made.json()["encoded_jit_config"],
            "ghp_" + "x" * 36,
        ]
        assert not [secret for secret in secrets if secret in text]
        # Nor the agent's: its runner access tokens (rha_...) and signed assertions (JWTs).
        for marker in ("rha_", "eyJ", "Bearer", "RemoteAuth", "BEGIN"):
            assert marker not in text, marker
    finally:
        hub.stop_agents()
        hub.db.dispose()


def test_text_lines_are_for_people(server: ServerProcess) -> None:
    answer = httpx.get(server.url + "/healthz")
    request_id = answer.headers["x-github-request-id"]
    wanted = " runnerhub.access: GET /healthz 200 "

    def found() -> list[str]:
        return [line for line in server.log.read_text().splitlines() if wanted in line]

    [line] = eventually(
        lambda: [line for line in found() if request_id in line], bool, 5, "its access line"
    )
    assert line.split(" ")[1] == "INFO"
    assert line.split(" ")[0].endswith("Z")
    assert f" [{request_id}] " in line


def test_json_lines_survive_text_json_cannot_encode() -> None:
    record = logging.makeLogRecord({"msg": "path %s", "args": ("/\udc80",), "name": "x"})
    RequestFilter().filter(record)
    assert json.loads(JsonFormatter().format(record))["message"] == "path /\udc80"


def test_the_log_format_setting_is_checked(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="log_format"):
        start_server(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, log_format="yaml")


def test_the_last_lines_are_written_when_the_server_stops(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url, tmp_path, log_format="json")
    try:
        answer = httpx.get(server.url + "/meta")
    finally:
        server.stop()  # at once: the line may still be waiting for its batch
    assert [
        line["status"] for line in of_request(server, answer.headers["x-github-request-id"])
    ] == [200]
