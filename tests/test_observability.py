"""/healthz, /readyz and /metrics on the real server process (and /readyz on an app whose
database is not migrated)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runnerhub.app import create_app
from runnerhub.settings import Settings
from runnerhub.storage.database import Database
from tests.factories import World
from tests.helpers import auth
from tests.server import ServerProcess, start_server


def _samples(
    client: httpx.Client, **headers: str
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_healthz_and_readyz(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok"
    assert body["schema"] == body["head"]
    assert body["head"]
    assert client.get("/api/v3/healthz").status_code == 404  # the server's, not the API's


def test_readyz_is_503_until_the_schema_is_migrated(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    app = create_app(Settings(data_dir=tmp_path, runner_key_pool_size=0), db)

    async def get(path: str) -> httpx.Response:
        # No lifespan: its background services need the schema.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.get(path)

    assert asyncio.run(get("/healthz")).status_code == 200
    ready = asyncio.run(get("/readyz"))
    assert ready.status_code == 503
    assert ready.json()["database"] == "migrations pending"
    assert ready.json()["schema"] is None
    db.dispose()


def test_metrics_count_runners_jobs_and_requests(client: httpx.Client, world: World) -> None:
    admin = world.user()
    org = world.org(admin)
    repo = world.repo(org)
    token = world.token(admin, scopes=("repo", "admin:org"))
    before = _samples(client)

    made = client.post(
        f"/orgs/{org}/actions/runners/generate-jitconfig",
        headers=auth(token),
        json={"name": "metered", "runner_group_id": 1, "labels": ["self-hosted"]},
    )
    assert made.status_code == 201
    nothing_matches = (
        "name: CI\non: push\njobs:\n  build:\n    runs-on: [no-such-label]\n"
        "    steps:\n      - run: echo hi\n"
    )
    stored = client.put(
        f"/repos/{repo}/contents/.github/workflows/ci.yml",
        headers=auth(token),
        json={"message": "ci", "content": base64.b64encode(nothing_matches.encode()).decode()},
    )
    assert stored.status_code == 201

    after = _samples(client)
    offline = {"scope": "organization", "status": "offline", "busy": "false"}
    assert (
        _value(after, "runnerhub_runners", **offline)
        == _value(before, "runnerhub_runners", **offline) + 1
    )
    assert (
        _value(after, "runnerhub_jobs", status="queued")
        >= _value(before, "runnerhub_jobs", status="queued") + 1
    )
    assert _value(after, "runnerhub_oldest_job_age_seconds", status="queued") >= 0
    jit = {"operation": "actions/generate-runner-jitconfig-for-org", "status": "201"}
    count = "runnerhub_request_duration_seconds_count"
    assert _value(after, count, **jit) == _value(before, count, **jit) + 1
    assert ("runnerhub_long_polls", frozenset()) in after
    assert ("runnerhub_busy_runners", frozenset()) in after
    assert ("runnerhub_runner_key_pool_size", frozenset()) in after


@pytest.fixture(scope="module")
def guarded(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(
        database_url, tmp_path_factory.mktemp("metrics"), metrics_require_token="true"
    )
    yield server
    server.stop()


def test_metrics_can_require_a_token(guarded: ServerProcess, world: World) -> None:
    token = world.token(world.user())
    with httpx.Client(base_url=guarded.url) as http:
        refused = http.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["message"] == "Requires authentication"
        assert (
            http.get("/metrics", headers={"Authorization": "token ghp_" + "x" * 36}).status_code
            == 401
        )
        assert http.get("/metrics", headers=auth(token)).status_code == 200
        assert http.get("/healthz").status_code == 200  # probes never need one
