"""Environments end to end: the environments API, jobs `waiting` for an environment's wait
timer or reviewers (with their `workflow_job` `waiting` event, checked as a strict consumer
checks it), the review of pending deployments, and cancelling or deleting while a job
waits — real server process, SQLite or PostgreSQL."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runnerhub.storage.database import Database
from tests import node_check
from tests.agents import wait_for
from tests.contract import validate
from tests.factories import World
from tests.helpers import auth
from tests.receiver import Receiver
from tests.server import ServerProcess, start_server
from tests.test_webhooks import SECRET, checked

# The sweep that lets waiting jobs go looks every second, from 2 s after the start.
SETTINGS = {"testing": "true", "offline_after_seconds": "4", "webhook_scan_seconds": "0.5"}
# GitHub's `environment` schema requires these (the filtered descriptions leave it out).
ENVIRONMENT_REQUIRED = ("id", "node_id", "name", "url", "html_url", "created_at", "updated_at")

DEPLOYING = """name: Deploy
on: push
jobs:
  build:
    runs-on: [self-hosted, nobody-has-this]
    if: false
    steps:
      - run: "true"
  deploy:
    runs-on: [self-hosted, nobody-has-this]
    environment: ENVIRONMENT
    steps:
      - run: "true"
  after:
    needs: deploy
    runs-on: [self-hosted, nobody-has-this]
    steps:
      - run: "true"
"""
ONE_JOB = """name: Deploy
on: push
jobs:
  deploy:
    runs-on: [self-hosted, nobody-has-this]
    environment: ENVIRONMENT
    steps:
      - run: "true"
"""


def advance(site: Site, seconds: float) -> None:
    moved = site.http.post("/_runnerhub/testing/clock", json={"seconds": seconds})
    assert moved.status_code == 200, moved.text


@pytest.fixture(scope="module")
def live(db: Database, database_url: str, workdir: Path) -> Iterator[ServerProcess]:
    process = start_server(database_url, workdir, **SETTINGS)
    yield process
    process.stop()


class Site:
    """A repository whose admin pushes workflows, and a reviewer with read access."""

    def __init__(self, server: ServerProcess, world: World) -> None:
        self.admin = world.user()
        self.reviewer = world.user("reviewer")
        self.outsider = world.user("outsider")
        org = world.org(self.admin)
        self.repo = world.repo(org, private=True, collaborators=[(self.reviewer, "read")])
        self.http = self.client(server, world.token(self.admin, scopes=("repo",)))
        self.as_reviewer = self.client(server, world.token(self.reviewer, scopes=("repo",)))
        self.as_outsider = self.client(server, world.token(self.outsider, scopes=("repo",)))
        self.reviewer_id = int(self.http.get(f"/users/{self.reviewer}").json()["id"])
        self.admin_id = int(self.http.get(f"/users/{self.admin}").json()["id"])

    @staticmethod
    def client(server: ServerProcess, token: str) -> httpx.Client:
        return httpx.Client(base_url=server.url, headers=auth(token), timeout=30)

    def close(self) -> None:
        for client in (self.http, self.as_reviewer, self.as_outsider):
            client.close()

    def put(self, name: str, **body: Any) -> dict[str, Any]:
        made = self.http.put(f"/repos/{self.repo}/environments/{name}", json=body)
        assert made.status_code == 200, made.text
        return environment_checked(made.json())

    def push(self, environment: str, workflow: str = DEPLOYING, file: str = "cd.yml") -> int:
        workflow = workflow.replace("ENVIRONMENT", environment)
        body = {"message": "ci", "content": base64.b64encode(workflow.encode()).decode()}
        path = f"/repos/{self.repo}/contents/.github/workflows/{file}"
        current = self.http.get(path)
        if current.status_code == 200:
            body["sha"] = current.json()["sha"]
        put = self.http.put(path, json=body)
        assert put.status_code in (200, 201), put.text
        commit = put.json()["commit"]["sha"]
        runs = self.http.get(f"/repos/{self.repo}/actions/runs", params={"head_sha": commit})
        return int(runs.json()["workflow_runs"][0]["id"])

    def jobs(self, run_id: int) -> dict[str, dict[str, Any]]:
        path = f"/repos/{self.repo}/actions/runs/{run_id}/jobs"
        answer = self.http.get(path)
        validate(path, "GET", 200, answer.json())
        return {job["name"]: job for job in answer.json()["jobs"]}

    def run(self, run_id: int) -> dict[str, Any]:
        return dict(self.http.get(f"/repos/{self.repo}/actions/runs/{run_id}").json())

    def pending(self, run_id: int, client: httpx.Client | None = None) -> list[dict[str, Any]]:
        path = f"/repos/{self.repo}/actions/runs/{run_id}/pending_deployments"
        answer = (client or self.http).get(path)
        assert answer.status_code == 200, answer.text
        validate(path, "GET", 200, answer.json())
        return list(answer.json())

    def review(self, run_id: int, client: httpx.Client, **body: Any) -> httpx.Response:
        path = f"/repos/{self.repo}/actions/runs/{run_id}/pending_deployments"
        answer = client.post(path, json={"comment": "", **body})
        if answer.status_code == 200:
            validate(path, "POST", 200, answer.json())
        return answer

    def status_of(self, run_id: int, job: str) -> str:
        return str(self.jobs(run_id)[job]["status"])


@pytest.fixture
def site(live: ServerProcess, world: World) -> Iterator[Site]:
    made = Site(live, world)
    yield made
    made.close()


def environment_checked(body: dict[str, Any]) -> dict[str, Any]:
    for key in ENVIRONMENT_REQUIRED:
        assert key in body, key
    for rule in body["protection_rules"]:
        assert {"id", "node_id", "type"} <= set(rule)
    return body


# -- the API


def test_create_get_list_update_and_delete(site: Site) -> None:
    base = f"/repos/{site.repo}/environments"
    made = site.put("Production")
    assert made["name"] == "Production"
    assert made["protection_rules"] == []
    assert made["deployment_branch_policy"] is None
    assert made["url"].endswith(f"{base}/Production")
    assert site.http.get(f"{base}/production").json()["id"] == made["id"]  # any case
    changed = site.put("production", wait_timer=5, prevent_self_review=True,
                       reviewers=[{"type": "User", "id": site.reviewer_id}])  # fmt: skip
    assert changed["id"] == made["id"]
    assert changed["name"] == "Production"  # named as first made
    rules = {rule["type"]: rule for rule in changed["protection_rules"]}
    assert rules["wait_timer"]["wait_timer"] == 5
    assert rules["required_reviewers"]["prevent_self_review"] is True
    assert rules["required_reviewers"]["reviewers"][0]["reviewer"]["login"] == site.reviewer
    site.put("staging")
    listed = site.http.get(base, params={"per_page": 1})
    assert listed.json()["total_count"] == 2
    assert [e["name"] for e in listed.json()["environments"]] == ["Production"]
    assert 'rel="next"' in listed.headers["Link"]
    kept = site.put("Production")  # a PUT without rules keeps them
    assert len(kept["protection_rules"]) == 2
    assert site.put("Production", reviewers=[])["protection_rules"][0]["type"] == "wait_timer"
    assert site.http.delete(f"{base}/Production").status_code == 204
    assert site.http.get(f"{base}/Production").status_code == 404
    assert site.http.delete(f"{base}/Production").status_code == 404
    assert site.http.get(base).json()["total_count"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"wait_timer": -1},
        {"wait_timer": 43_201},
        {"wait_timer": "5"},
        {"prevent_self_review": "yes"},
        {"reviewers": [{"type": "Team", "id": 1}]},
        {"reviewers": [{"type": "User", "id": 987_654_321}]},
        {"reviewers": [{"type": "User", "id": 2**64 - 1}]},
        {"reviewers": [{"type": "Robot", "id": 1}]},
        {"reviewers": [{"type": "User", "id": 1}] * 7},
        {"reviewers": "someone"},
        {"deployment_branch_policy": {"protected_branches": True}},
        {"colour": "red"},
    ],
)
def test_bad_bodies_are_refused_and_change_nothing(site: Site, body: dict[str, Any]) -> None:
    answer = site.http.put(f"/repos/{site.repo}/environments/broken", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["message"]
    assert site.http.get(f"/repos/{site.repo}/environments/broken").status_code == 404


def test_reading_needs_read_access_and_writing_admin(site: Site) -> None:
    site.put("production")
    path = f"/repos/{site.repo}/environments/production"
    assert site.as_reviewer.get(path).status_code == 200
    refused = site.as_reviewer.put(path, json={"wait_timer": 1})
    assert refused.status_code == 403
    assert refused.json()["message"] == "Must have admin rights to Repository."
    assert site.as_reviewer.delete(path).status_code == 403
    assert site.as_outsider.get(path).status_code == 404  # a private repository: unseen
    assert site.as_outsider.put(path, json={}).status_code == 404
    assert site.http.get(path).json()["protection_rules"] == []  # unchanged


# -- jobs waiting for their environment


def test_a_job_waits_for_a_reviewer_and_goes_on_once_approved(site: Site) -> None:
    receiver = Receiver().start()
    try:
        config = {"url": receiver.url, "content_type": "json", "secret": SECRET}
        hook = {"name": "web", "events": ["workflow_job"], "config": config}
        assert site.http.post(f"/repos/{site.repo}/hooks", json=hook).status_code == 201
        made = site.put("production", reviewers=[{"type": "User", "id": site.reviewer_id}])
        run_id = site.push("production")
        assert site.status_of(run_id, "deploy") == "waiting"
        assert site.status_of(run_id, "after") == "queued"  # pending on needs, shown queued
        assert site.run(run_id)["status"] == "in_progress"  # its skipped job has ended
        [pending] = site.pending(run_id, site.as_reviewer)
        assert pending["environment"]["id"] == made["id"]
        assert pending["current_user_can_approve"] is True
        assert pending["wait_timer"] == 0
        assert pending["reviewers"][0]["reviewer"]["login"] == site.reviewer
        assert site.pending(run_id)[0]["current_user_can_approve"] is False  # not a reviewer
        refused = site.review(run_id, site.http, environment_ids=[made["id"]], state="approved")
        assert refused.status_code == 422
        assert site.status_of(run_id, "deploy") == "waiting"
        approved = site.review(run_id, site.as_reviewer, environment_ids=[made["id"]],
                               state="approved", comment="Ship it!")  # fmt: skip
        assert approved.status_code == 200, approved.text
        [deployment] = approved.json()
        assert deployment["environment"] == "production"
        assert deployment["creator"]["login"] == site.reviewer
        assert deployment["ref"] == "main"
        assert site.status_of(run_id, "deploy") == "queued"
        assert site.run(run_id)["status"] == "in_progress"
        assert site.pending(run_id) == []
        again = site.review(run_id, site.as_reviewer, environment_ids=[made["id"]],
                            state="approved")  # fmt: skip
        assert again.status_code == 422  # nothing waits for a review any more
        receiver.wait(3, "workflow_job", timeout=30)  # skipped build, waiting and queued deploy
        events = [checked(r) for r in receiver.events() if r.event == "workflow_job"]
        deploy = [(e["action"], e["workflow_job"]["status"]) for e in events
                  if e["workflow_job"]["name"] == "deploy"]  # fmt: skip
        assert deploy == [("waiting", "waiting"), ("queued", "queued")]
    finally:
        receiver.stop()


def test_octokit_verifies_and_validates_the_waiting_payload(site: Site, octokit: Path) -> None:
    receiver = Receiver().start()
    try:
        config = {"url": receiver.url, "content_type": "json", "secret": SECRET}
        hook = {"name": "web", "events": ["workflow_job"], "config": config}
        assert site.http.post(f"/repos/{site.repo}/hooks", json=hook).status_code == 201
        site.put("production", wait_timer=10)
        site.push("production")
        received = receiver.wait(2, "workflow_job", timeout=30)  # skipped build, waiting deploy
    finally:
        receiver.stop()
    [waiting] = [r for r in received if json.loads(r.body)["action"] == "waiting"]
    assert node_check.check(octokit, [waiting], SECRET) == [{"ok": True, "error": None}]


def test_a_wait_timer_holds_the_job_until_it_has_run_out(site: Site) -> None:
    site.put("slow", wait_timer=1)
    run_id = site.push("slow")
    assert site.status_of(run_id, "deploy") == "waiting"
    [pending] = site.pending(run_id)
    assert pending["wait_timer"] == 1
    assert pending["wait_timer_started_at"] is not None
    assert pending["current_user_can_approve"] is False  # nobody reviews: the timer decides
    advance(site, 61)
    wait_for(lambda: site.status_of(run_id, "deploy") == "queued", 20, "the timer to run out")


def test_the_timer_and_the_review_must_both_pass(site: Site) -> None:
    made = site.put("both", wait_timer=30, reviewers=[{"type": "User", "id": site.reviewer_id}])
    run_id = site.push("both")
    approved = site.review(run_id, site.as_reviewer, environment_ids=[made["id"]],
                           state="approved")  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert site.status_of(run_id, "deploy") == "waiting"  # approved, the timer still runs
    advance(site, 1801)
    wait_for(lambda: site.status_of(run_id, "deploy") == "queued", 20, "the timer to run out")


def test_a_rejection_fails_the_job_and_the_run(site: Site) -> None:
    made = site.put("production", reviewers=[{"type": "User", "id": site.reviewer_id}])
    run_id = site.push("production")
    rejected = site.review(run_id, site.as_reviewer, environment_ids=[made["id"]],
                           state="rejected", comment="Not today")  # fmt: skip
    assert rejected.status_code == 200, rejected.text
    jobs = site.jobs(run_id)
    assert (jobs["deploy"]["status"], jobs["deploy"]["conclusion"]) == ("completed", "failure")
    assert jobs["after"]["conclusion"] == "skipped"
    run = site.run(run_id)
    assert (run["status"], run["conclusion"]) == ("completed", "failure")


def test_a_run_held_before_anything_ran_is_waiting_and_sends_in_progress_once(
    site: Site,
) -> None:
    receiver = Receiver().start()
    try:
        config = {"url": receiver.url, "content_type": "json", "secret": SECRET}
        hook = {"name": "web", "events": ["workflow_run"], "config": config}
        assert site.http.post(f"/repos/{site.repo}/hooks", json=hook).status_code == 201
        made = site.put("production", reviewers=[{"type": "User", "id": site.reviewer_id}])
        alone = site.push("production", ONE_JOB)
        assert site.run(alone)["status"] == "waiting"
        assert site.review(alone, site.as_reviewer, environment_ids=[made["id"]],
                           state="approved").status_code == 200  # fmt: skip
        assert site.run(alone)["status"] == "queued"
        held = site.push("production")  # in progress (a skipped job), then a job waits
        assert site.review(held, site.as_reviewer, environment_ids=[made["id"]],
                           state="approved").status_code == 200  # fmt: skip
        for run_id in (alone, held):
            cancel = site.http.post(f"/repos/{site.repo}/actions/runs/{run_id}/cancel")
            assert cancel.status_code == 202
        receiver.wait(5, "workflow_run", timeout=30)
        time.sleep(1)  # nothing more comes
        actions: dict[int, list[str]] = {}
        for received in receiver.events():
            if received.event != "workflow_run":
                continue  # the ping
            payload = checked(received)
            actions.setdefault(payload["workflow_run"]["id"], []).append(payload["action"])
        assert actions == {alone: ["requested", "completed"],
                           held: ["requested", "in_progress", "completed"]}  # fmt: skip
    finally:
        receiver.stop()


def test_a_day_of_waiting_cancels_nothing_and_a_released_job_gets_its_own_day(
    site: Site,
) -> None:
    made = site.put("production", reviewers=[{"type": "User", "id": site.reviewer_id}])
    run_id = site.push("production")
    advance(site, 25 * 3600)
    time.sleep(3)  # sweeps come and go
    jobs = site.jobs(run_id)
    assert (jobs["deploy"]["status"], jobs["after"]["status"]) == ("waiting", "queued")
    assert site.review(run_id, site.as_reviewer, environment_ids=[made["id"]],
                       state="approved").status_code == 200  # fmt: skip
    time.sleep(3)
    assert site.status_of(run_id, "deploy") == "queued"  # queued now: a day from now
    advance(site, 25 * 3600)
    wait_for(lambda: site.jobs(run_id)["deploy"]["conclusion"] == "cancelled", 20,
             "the queue limit")  # fmt: skip


def test_thirty_days_without_a_review_fail_the_job_but_a_thirty_day_timer_runs_out(
    site: Site,
) -> None:
    site.put("reviewed", reviewers=[{"type": "User", "id": site.reviewer_id}])
    site.put("timed", wait_timer=43_200)
    reviewed, timed = site.push("reviewed"), site.push("timed", file="timed.yml")
    advance(site, 30 * 24 * 3600 + 60)
    wait_for(lambda: site.jobs(reviewed)["deploy"]["conclusion"] == "failure", 20,
             "the review limit")  # fmt: skip
    wait_for(lambda: site.status_of(timed, "deploy") == "queued", 20, "the timer")


def test_waiting_jobs_follow_the_rules_as_they_are_now(site: Site) -> None:
    site.put("production", reviewers=[{"type": "User", "id": site.reviewer_id}])
    run_id = site.push("production")
    site.put("production", wait_timer=1)  # reviewers kept, a timer added
    [pending] = site.pending(run_id)
    assert pending["wait_timer"] == 1
    site.put("production", reviewers=[], wait_timer=0)  # nothing left to wait for
    assert site.status_of(run_id, "deploy") == "queued"


def test_self_review_can_be_prevented(site: Site) -> None:
    own = [{"type": "User", "id": site.admin_id}]
    made = site.put("guarded", reviewers=own, prevent_self_review=True)
    run_id = site.push("guarded")  # pushed by the admin: the run is theirs
    assert site.pending(run_id)[0]["current_user_can_approve"] is False
    refused = site.review(run_id, site.http, environment_ids=[made["id"]], state="approved")
    assert refused.status_code == 422
    site.put("guarded", prevent_self_review=False)  # waiting jobs follow the rules as they are
    assert site.review(run_id, site.http, environment_ids=[made["id"]],
                       state="approved").status_code == 200  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        {"environment_ids": [], "state": "approved"},
        {"environment_ids": ["1"], "state": "approved"},
        {"environment_ids": [1], "state": "maybe"},
        {"environment_ids": [1], "state": "approved", "comment": 5},
        {"state": "approved"},
        {"environment_ids": [2**64 - 1], "state": "approved"},
    ],
)
def test_bad_reviews_are_refused(site: Site, body: dict[str, Any]) -> None:
    made = site.put("production", reviewers=[{"type": "User", "id": site.reviewer_id}])
    run_id = site.push("production")
    body = {**body, "environment_ids": body.get("environment_ids", [made["id"]])}
    if body["environment_ids"] == [1]:
        body["environment_ids"] = [made["id"]]
    path = f"/repos/{site.repo}/actions/runs/{run_id}/pending_deployments"
    answer = site.as_reviewer.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert site.status_of(run_id, "deploy") == "waiting"
    assert site.as_outsider.post(path, json=body).status_code == 404


def test_cancelling_a_waiting_run_cancels_its_jobs(site: Site) -> None:
    site.put("production", reviewers=[{"type": "User", "id": site.reviewer_id}])
    run_id = site.push("production")
    assert site.http.post(f"/repos/{site.repo}/actions/runs/{run_id}/cancel").status_code == 202
    jobs = site.jobs(run_id)
    assert jobs["deploy"]["conclusion"] == "cancelled"
    assert site.run(run_id)["conclusion"] == "cancelled"
    assert site.pending(run_id) == []


def test_deleting_the_environment_fails_the_jobs_waiting_for_it(site: Site) -> None:
    site.put("production", reviewers=[{"type": "User", "id": site.reviewer_id}])
    run_id = site.push("production")
    path = f"/repos/{site.repo}/environments/production"
    assert site.http.delete(path).status_code == 204
    assert site.jobs(run_id)["deploy"]["conclusion"] == "failure"


def test_an_environment_named_in_a_workflow_is_made_and_needs_nothing(site: Site) -> None:
    run_id = site.push("preview-${{ github.ref_name }}")
    assert site.status_of(run_id, "deploy") == "queued"
    found = site.http.get(f"/repos/{site.repo}/environments/preview-main")
    assert found.status_code == 200
    assert environment_checked(found.json())["protection_rules"] == []


def test_a_job_naming_no_valid_environment_fails(site: Site) -> None:
    run_id = site.push("'a/b'")
    jobs = site.jobs(run_id)
    assert (jobs["deploy"]["status"], jobs["deploy"]["conclusion"]) == ("completed", "failure")
    assert jobs["after"]["conclusion"] == "skipped"
    assert site.run(run_id)["conclusion"] == "failure"
    log = site.http.get(
        f"/repos/{site.repo}/actions/jobs/{jobs['deploy']['id']}/logs", follow_redirects=True
    )
    assert "is not a valid environment name" in log.text


def test_an_environment_whose_expression_fails_fails_the_job(site: Site) -> None:
    run_id = site.push("${{ fromJSON('not json') }}")
    deploy = site.jobs(run_id)["deploy"]
    assert (deploy["status"], deploy["conclusion"]) == ("completed", "failure")


MATRIX = """name: Deploy
on: push
jobs:
  deploy:
    runs-on: [self-hosted, nobody-has-this]
    environment: ENVIRONMENT
    strategy:
      matrix:
        region: [eu, us, ap]
    steps:
      - run: "true"
"""


def test_one_review_lets_every_job_of_a_matrix_go_on(site: Site) -> None:
    made = site.put("production", reviewers=[{"type": "User", "id": site.reviewer_id}])
    run_id = site.push("production", MATRIX, file="matrix.yml")
    assert {job["status"] for job in site.jobs(run_id).values()} == {"waiting"}
    assert len(site.jobs(run_id)) == 3
    [pending] = site.pending(run_id)  # one environment, however many jobs
    assert pending["environment"]["id"] == made["id"]
    approved = site.review(run_id, site.as_reviewer, environment_ids=[made["id"]],
                           state="approved")  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert len(approved.json()) == 3  # a deployment per job
    assert {job["status"] for job in site.jobs(run_id).values()} == {"queued"}
