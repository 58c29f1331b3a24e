"""The `runnerhub` pytest fixture (runnerhub.testing), as its users would use it: a tiny
autoscaler tested end to end, and the server's clock moved instead of sleeping."""

from __future__ import annotations

from datetime import timedelta

import httpx

from runnerhub.testing import Runnerhub, eventually
from tests.factories import World

CI = """\
name: CI
on: push
jobs:
  build:
    runs-on: [self-hosted, linux]
    steps:
      - run: echo "built on $RUNNER_NAME"
"""


def scale_up(api: httpx.Client, org: str, repo: str) -> list[str]:
    """A tiny autoscaler: one ephemeral JIT runner for each queued job of the repository."""
    configs = []
    for run in api.get(f"/repos/{repo}/actions/runs", params={"status": "queued"}).json()[
        "workflow_runs"
    ]:
        for job in api.get(f"/repos/{repo}/actions/runs/{run['id']}/jobs").json()["jobs"]:
            body = {"name": f"auto-{job['id']}", "runner_group_id": 1, "labels": job["labels"]}
            made = api.post(f"/orgs/{org}/actions/runners/generate-jitconfig", json=body)
            configs.append(made.json()["encoded_jit_config"])
    return configs


def test_the_autoscaler_starts_a_runner_that_runs_the_queued_job(runnerhub: Runnerhub) -> None:
    site = runnerhub.seed()
    runnerhub.put_workflow(site, "ci.yml", CI)  # a commit: its push run waits for a runner
    with site.api() as api:
        [config] = eventually(lambda: scale_up(api, site.org, site.repo), bool, 10, "a job")
    agent = runnerhub.start_jit_agent(config)
    run = runnerhub.wait_for_run(site, status="completed")
    assert run["conclusion"] == "success"
    assert agent.process.wait(timeout=30) == 0  # ephemeral: one job, then it exits
    with site.api() as api:
        assert api.get(f"/orgs/{site.org}/actions/runners").json()["total_count"] == 0


def test_moving_the_clock_expires_tokens_and_takes_runners_offline(runnerhub: Runnerhub) -> None:
    site = runnerhub.seed()
    brief = runnerhub.token(site.user, scopes=["admin:org"], expires_in=timedelta(minutes=30))
    runnerhub.start_agent(site, name="steady", labels=["gpu"])

    def status() -> str:
        with site.api() as api:
            runners = api.get(f"/orgs/{site.org}/actions/runners").json()["runners"]
        return str(runners[0]["status"]) if runners else "missing"

    eventually(status, lambda s: s == "online", 30, "the agent online")
    runnerhub.stop_agents()
    runnerhub.advance_clock(hours=1)  # past the liveness window: offline, without waiting
    assert status() == "offline"
    with runnerhub.client(brief) as api:
        assert api.get(f"/orgs/{site.org}/actions/runners").status_code == 401  # expired
    runnerhub.advance_clock(days=15)  # past GitHub's 14 days offline: the sweep removed it
    assert status() == "missing"


def test_the_clock_only_moves_forward_and_only_on_a_test_server(runnerhub: Runnerhub) -> None:
    site = runnerhub.seed()
    with site.api() as api:
        assert api.post("/_runnerhub/testing/clock", json={"seconds": -1}).status_code == 422
        assert api.post("/_runnerhub/testing/clock", json={"seconds": "1"}).status_code == 422
        assert api.post("/_runnerhub/testing/clock", json={}).status_code == 422
        assert (
            httpx.post(f"{runnerhub.url}/_runnerhub/testing/clock", json={"seconds": 1}).status_code
            == 401
        )


def test_the_clock_hook_is_404_on_a_server_not_for_tests(
    client: httpx.Client, world: World
) -> None:
    token = world.token(world.user())
    moved = client.post(
        "/_runnerhub/testing/clock",
        json={"seconds": 3600},
        headers={"Authorization": f"token {token}"},
    )
    assert moved.status_code == 404
