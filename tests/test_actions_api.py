"""Workflow files, workflows, runs and jobs through the real server, at the root and under
/api/v3; every body validated against GitHub's description (jobs-*.json). No runner agent
runs here, so jobs stay queued."""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

import httpx
import pytest

from tests.factories import World
from tests.helpers import auth, checked

PREFIXES = ("", "/api/v3")

CI = """\
name: CI
on:
  push:
  workflow_dispatch:
    inputs:
      target:
        description: where to
        required: true
      dry:
        type: boolean
        default: false
jobs:
  build:
    runs-on: self-hosted
    steps:
      - run: echo building ${{ inputs.target }}
  test:
    needs: build
    runs-on: [self-hosted, linux]
    steps:
      - name: Test
        run: echo testing
"""

MANUAL = """\
name: Manual
on: [workflow_dispatch]
jobs:
  only:
    runs-on: self-hosted
    steps:
      - run: echo manual
"""

USES = """\
name: Uses
on: [push]
jobs:
  build:
    runs-on: self-hosted
    steps:
      - run: echo first
      - uses: actions/checkout@v4
"""

RUN_API_URLS = ("url", "jobs_url", "logs_url", "check_suite_url", "cancel_url", "rerun_url",
                "artifacts_url", "workflow_url")  # fmt: skip
JOB_API_URLS = ("url", "run_url", "check_run_url")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def put_workflow(
    client: httpx.Client, token: str, base: str, name: str, text: str, *,
    sha: str | None = None, status: int = 201,
) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {"message": f"Add {name}", "content": b64(text)}
    if sha is not None:
        body["sha"] = sha
    path = f"{base}/contents/.github/workflows/{name}"
    return dict(checked(client, "PUT", path, status, token, json=body).json())


def runs_of(client: httpx.Client, token: str, base: str, query: str = "") -> dict[str, Any]:
    return dict(checked(client, "GET", f"{base}/actions/runs{query}", 200, token).json())


def assert_urls(body: dict[str, Any], keys: tuple[str, ...], api: str, web: str) -> None:
    for key in keys:
        assert body[key].startswith(f"{api}/repos/"), (key, body[key])
    assert body["html_url"].startswith(web + "/")
    assert not body["html_url"].startswith(f"{web}/api/v3"), body["html_url"]


def setup(world: World, *, private: bool = False) -> tuple[str, str, str]:
    admin = world.user()
    repo = world.repo(admin, private=private)
    return admin, repo, world.token(admin, scopes=("repo",))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_workflow_file_lifecycle(client: httpx.Client, world: World, prefix: str) -> None:
    admin, repo, token = setup(world)
    base = f"{prefix}/repos/{repo}"
    web = str(client.base_url).rstrip("/")
    api = web + prefix

    made = put_workflow(client, token, base, "ci.yml", CI)
    commit, content = made["commit"], made["content"]
    assert content["path"] == ".github/workflows/ci.yml"
    assert content["url"].startswith(f"{api}/repos/{repo}/contents/")
    assert commit["html_url"].startswith(f"{web}/{repo}/commit/")

    pushed = runs_of(client, token, base, "?event=push")
    assert pushed["total_count"] == 1
    run = pushed["workflow_runs"][0]
    assert (run["head_sha"], run["event"], run["status"]) == (commit["sha"], "push", "queued")
    assert run["actor"]["login"] == admin
    assert_urls(run, RUN_API_URLS, api, web)

    path = f"{base}/contents/.github/workflows/ci.yml"
    read = checked(client, "GET", path, 200, token).json()
    assert read["encoding"] == "base64"
    assert read["type"] == "file"
    assert base64.b64decode(read["content"]).decode() == CI
    assert read["sha"] == content["sha"]
    listing = checked(client, "GET", f"{base}/contents/.github/workflows", 200, token).json()
    assert [entry["name"] for entry in listing] == ["ci.yml"]

    stale = {"message": "again", "content": b64(CI + "\n"), "sha": "0" * 40}
    # Not validated: GitHub describes this 409 as oneOf basic-error or a rule violation, and
    # every plain error body is valid under both, which oneOf forbids.
    conflict = client.put(path, headers=auth(token), json=stale)
    assert conflict.status_code == 409
    assert conflict.json()["status"] == "409"
    missing = checked(client, "PUT", path, 422, token, json={"message": "m", "content": b64(CI)})
    assert "sha" in missing.json()["message"]
    outside = {"message": "m", "content": b64("hello")}
    checked(client, "PUT", f"{base}/contents/README.md", 422, token, json=outside)
    uses = checked(client, "PUT", f"{base}/contents/.github/workflows/uses.yml", 422, token,
                   json={"message": "m", "content": b64(USES)})  # fmt: skip
    assert "step 2 of job 'build'" in uses.json()["message"], uses.json()
    no_message = checked(client, "PUT", path, 422, token, json={"content": b64(CI)})
    assert no_message.json()["message"] == 'Invalid request.\n\n"message" wasn\'t supplied.'
    bad_json = client.put(path, headers=auth(token), content=b"{")
    assert bad_json.status_code == 400

    updated = put_workflow(client, token, base, "ci.yml", CI + "\n", sha=content["sha"], status=200)
    assert updated["content"]["sha"] != content["sha"]
    assert runs_of(client, token, base, "?event=push")["total_count"] == 2

    gone = checked(client, "DELETE", path, 200, token,
                   json={"message": "Remove", "sha": updated["content"]["sha"]})  # fmt: skip
    assert gone.json()["content"] is None
    checked(client, "GET", path, 404, token)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_dispatch_with_inputs(client: httpx.Client, world: World, prefix: str) -> None:
    _, repo, token = setup(world)
    base = f"{prefix}/repos/{repo}"
    put_workflow(client, token, base, "ci.yml", CI)
    dispatches = f"{base}/actions/workflows/ci.yml/dispatches"

    checked(
        client, "POST", dispatches, 204, token, json={"ref": "main", "inputs": {"target": "prod"}}
    )
    extra = {"ref": "main", "inputs": {"target": "x", "colour": "red"}}
    unknown = client.post(dispatches, headers=auth(token), json=extra)
    assert unknown.status_code == 422
    assert "colour" in unknown.json()["message"]
    required = client.post(dispatches, headers=auth(token), json={"ref": "main", "inputs": {}})
    assert required.status_code == 422
    assert "target" in required.json()["message"]
    no_ref = client.post(dispatches, headers=auth(token), json={"inputs": {"target": "x"}})
    assert no_ref.status_code == 422
    wrong_ref = client.post(dispatches, headers=auth(token), json={"ref": "nope", "inputs": {}})
    assert wrong_ref.status_code == 422

    dispatched = runs_of(client, token, base, "?event=workflow_dispatch")
    assert dispatched["total_count"] == 1
    run_id = dispatched["workflow_runs"][0]["id"]
    jobs = checked(client, "GET", f"{base}/actions/runs/{run_id}/jobs", 200, token).json()
    assert sorted(j["name"] for j in jobs["jobs"]) == ["build", "test"]


def test_dispatch_returns_run_details(client: httpx.Client, world: World) -> None:
    _, repo, token = setup(world)
    base = f"/repos/{repo}"
    put_workflow(client, token, base, "manual.yml", MANUAL)
    body = {"ref": "refs/heads/main", "return_run_details": True}
    details = checked(client, "POST", f"{base}/actions/workflows/manual.yml/dispatches", 200,
                      token, json=body).json()  # fmt: skip
    run = checked(client, "GET", f"{base}/actions/runs/{details['workflow_run_id']}", 200, token)
    assert run.json()["url"] == details["run_url"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_workflows_and_filtered_runs(client: httpx.Client, world: World, prefix: str) -> None:
    admin, repo, token = setup(world)
    base = f"{prefix}/repos/{repo}"
    sha = put_workflow(client, token, base, "ci.yml", CI)["commit"]["sha"]
    put_workflow(client, token, base, "manual.yml", MANUAL)
    for _ in range(3):
        checked(client, "POST", f"{base}/actions/workflows/manual.yml/dispatches", 204, token,
                json={"ref": "main"})  # fmt: skip

    listed = checked(client, "GET", f"{base}/actions/workflows", 200, token).json()
    assert listed["total_count"] == 2
    by_path = {w["path"]: w for w in listed["workflows"]}
    manual = by_path[".github/workflows/manual.yml"]
    assert manual["name"] == "Manual"
    assert manual["state"] == "active"
    paged = checked(client, "GET", f"{base}/actions/workflows?per_page=1", 200, token)
    assert 'rel="next"' in paged.headers["Link"]
    one = checked(client, "GET", f"{base}/actions/workflows/{manual['id']}", 200, token).json()
    assert one == checked(client, "GET", f"{base}/actions/workflows/manual.yml", 200, token).json()

    # Both commits ran CI (on: push), then three dispatches of Manual.
    assert runs_of(client, token, base)["total_count"] == 5
    page = checked(client, "GET", f"{base}/actions/runs?per_page=3&page=1", 200, token)
    assert len(page.json()["workflow_runs"]) == 3
    assert 'rel="next"' in page.headers["Link"]
    assert 'rel="last"' in page.headers["Link"]
    last = checked(client, "GET", f"{base}/actions/runs?per_page=3&page=2", 200, token)
    assert len(last.json()["workflow_runs"]) == 2
    assert 'rel="prev"' in last.headers["Link"]

    assert runs_of(client, token, base, "?event=workflow_dispatch")["total_count"] == 3
    assert runs_of(client, token, base, "?event=push")["total_count"] == 2
    assert runs_of(client, token, base, "?status=queued")["total_count"] == 5
    assert runs_of(client, token, base, "?status=completed")["total_count"] == 0
    assert runs_of(client, token, base, f"?actor={admin}")["total_count"] == 5
    assert runs_of(client, token, base, "?actor=someone-else")["total_count"] == 0
    head = runs_of(client, token, base, f"?head_sha={sha}&event=push")
    assert [r["head_sha"] for r in head["workflow_runs"]] == [sha]
    assert runs_of(client, token, base, "?branch=main")["total_count"] == 5

    for key in (manual["id"], "manual.yml"):
        of_one = checked(client, "GET", f"{base}/actions/workflows/{key}/runs", 200, token).json()
        assert of_one["total_count"] == 3
        assert {r["workflow_id"] for r in of_one["workflow_runs"]} == {manual["id"]}
    none = client.get(f"{base}/actions/workflows/none.yml/runs", headers=auth(token))
    assert none.status_code == 404

    checked(client, "PUT", f"{base}/actions/workflows/manual.yml/disable", 204, token)
    refused = client.post(f"{base}/actions/workflows/manual.yml/dispatches", headers=auth(token),
                          json={"ref": "main"})  # fmt: skip
    assert refused.status_code == 422
    checked(client, "PUT", f"{base}/actions/workflows/manual.yml/enable", 204, token)
    checked(client, "POST", f"{base}/actions/workflows/manual.yml/dispatches", 204, token,
            json={"ref": "main"})  # fmt: skip


@pytest.mark.parametrize("prefix", PREFIXES)
def test_jobs_cancel_rerun_delete(client: httpx.Client, world: World, prefix: str) -> None:
    _, repo, token = setup(world)
    base = f"{prefix}/repos/{repo}"
    web = str(client.base_url).rstrip("/")
    put_workflow(client, token, base, "ci.yml", CI)
    run_id = runs_of(client, token, base)["workflow_runs"][0]["id"]
    run_path = f"{base}/actions/runs/{run_id}"

    jobs = checked(client, "GET", f"{run_path}/jobs", 200, token).json()
    assert jobs["total_count"] == 2
    assert {j["status"] for j in jobs["jobs"]} == {"queued"}
    job = jobs["jobs"][0]
    assert_urls(job, JOB_API_URLS, web + prefix, web)
    one = checked(client, "GET", f"{base}/actions/jobs/{job['id']}", 200, token).json()
    assert one["id"] == job["id"]
    assert one["run_id"] == run_id
    paged = checked(client, "GET", f"{run_path}/jobs?per_page=1", 200, token)
    assert len(paged.json()["jobs"]) == 1
    assert 'rel="next"' in paged.headers["Link"]

    assert checked(client, "POST", f"{run_path}/cancel", 202, token).json() == {}
    run = checked(client, "GET", run_path, 200, token).json()
    assert (run["status"], run["conclusion"]) == ("completed", "cancelled")
    after = checked(client, "GET", f"{run_path}/jobs", 200, token).json()["jobs"]
    ended = {j["name"]: (j["status"], j["conclusion"]) for j in after}
    assert ended["build"] == ("completed", "cancelled")
    # `test` needs `build`: the domain decides it (skipped) once build is cancelled.
    assert ended["test"][0] == "completed"
    assert ended["test"][1] in ("cancelled", "skipped")
    checked(client, "POST", f"{run_path}/cancel", 409, token)

    assert checked(client, "POST", f"{run_path}/rerun", 201, token).json() == {}
    again = checked(client, "GET", run_path, 200, token).json()
    assert (again["run_attempt"], again["status"]) == (2, "queued")
    every = checked(client, "GET", f"{run_path}/jobs?filter=all", 200, token).json()
    assert every["total_count"] == 4
    latest = checked(client, "GET", f"{run_path}/jobs?filter=latest", 200, token).json()
    assert {j["run_attempt"] for j in latest["jobs"]} == {2}
    assert client.get(f"{run_path}/jobs?filter=x", headers=auth(token)).status_code == 422

    checked(client, "POST", f"{run_path}/force-cancel", 202, token)
    checked(client, "POST", f"{run_path}/rerun-failed-jobs", 201, token)
    assert checked(client, "GET", run_path, 200, token).json()["run_attempt"] == 3
    checked(client, "POST", f"{run_path}/cancel", 202, token)

    checked(client, "DELETE", run_path, 204, token)
    assert client.get(run_path, headers=auth(token)).status_code == 404
    assert client.get(f"{base}/actions/jobs/{job['id']}", headers=auth(token)).status_code == 404


@pytest.mark.parametrize("prefix", PREFIXES)
def test_logs_redirect_to_runnerhub(client: httpx.Client, world: World, prefix: str) -> None:
    _, repo, token = setup(world, private=True)
    base = f"{prefix}/repos/{repo}"
    web = str(client.base_url).rstrip("/")
    put_workflow(client, token, base, "ci.yml", CI)
    run_id = runs_of(client, token, base)["workflow_runs"][0]["id"]
    job_id = checked(client, "GET", f"{base}/actions/runs/{run_id}/jobs", 200, token).json()[
        "jobs"
    ][0]["id"]

    redirect = checked(client, "GET", f"{base}/actions/runs/{run_id}/logs", 302, token)
    location = redirect.headers["Location"]
    assert location.startswith(f"{web}/_runnerhub/")
    assert client.get(location).status_code in (401, 404)  # private: the token is needed
    archive = client.get(location, headers=auth(token))
    assert archive.status_code == 200, archive.text
    assert archive.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert sorted(n for n in names if "/" not in n) == ["0_build.txt", "1_test.txt"]

    followed = client.get(f"{base}/actions/jobs/{job_id}/logs", headers=auth(token),
                          follow_redirects=True)  # fmt: skip
    assert followed.status_code == 200
    assert followed.headers["content-type"].startswith("text/plain")
    assert str(followed.url).startswith(f"{web}/_runnerhub/")
    checked(client, "GET", f"{base}/actions/jobs/{job_id}/logs", 302, token)
    assert client.get(f"{base}/actions/runs/999999999/logs", headers=auth(token)).status_code == 404


def test_permissions(client: httpx.Client, world: World) -> None:
    admin, repo, token = setup(world)
    reader = world.user()
    outsider = world.user()
    shared = world.repo(admin, collaborators=[(reader, "read")])
    hidden = world.repo(admin, private=True)
    reader_token = world.token(reader, scopes=("repo",))
    outsider_token = world.token(outsider, scopes=("repo",))
    for where in (repo, shared, hidden):
        put_workflow(client, token, f"/repos/{where}", "ci.yml", CI)

    anonymous = client.get(f"/repos/{repo}/actions/runs")
    assert anonymous.status_code == 200
    assert anonymous.json()["total_count"] == 1
    content = client.get(f"/repos/{repo}/contents/.github/workflows/ci.yml")
    assert content.status_code == 200
    dispatch = client.post(f"/repos/{repo}/actions/workflows/ci.yml/dispatches",
                           json={"ref": "main", "inputs": {"target": "x"}})  # fmt: skip
    assert dispatch.status_code == 401

    run_id = runs_of(client, reader_token, f"/repos/{shared}")["workflow_runs"][0]["id"]
    cancel = client.post(f"/repos/{shared}/actions/runs/{run_id}/cancel",
                         headers=auth(reader_token))  # fmt: skip
    assert cancel.status_code == 403, cancel.text
    write = {"message": "m", "content": b64(MANUAL)}
    put = client.put(f"/repos/{shared}/contents/.github/workflows/m.yml",
                     headers=auth(reader_token), json=write)  # fmt: skip
    assert put.status_code == 403

    for path in ("actions/runs", "actions/workflows", "contents/.github/workflows/ci.yml"):
        refused = client.get(f"/repos/{hidden}/{path}", headers=auth(outsider_token))
        assert refused.status_code == 404, (path, refused.text)
    hidden_run = runs_of(client, token, f"/repos/{hidden}")["workflow_runs"][0]["id"]
    logs = client.get(f"/_runnerhub/repos/{hidden}/actions/runs/{hidden_run}/logs",
                      headers=auth(outsider_token))  # fmt: skip
    assert logs.status_code == 404


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_run_has_no_artifacts(client: httpx.Client, world: World, prefix: str) -> None:
    _, repo, token = setup(world)
    base = f"{prefix}/repos/{repo}"
    put_workflow(client, token, base, "ci.yml", CI)
    run_id = runs_of(client, token, base)["workflow_runs"][0]["id"]
    listed = checked(client, "GET", f"{base}/actions/runs/{run_id}/artifacts", 200, token)
    assert listed.json() == {"total_count": 0, "artifacts": []}
    missing = client.get(f"{base}/actions/runs/{2**40}/artifacts", headers=auth(token))
    assert missing.status_code == 404
