"""Real GitHub clients driving the job loop unchanged: PyGithub, githubkit, `gh api` and
octokit write a workflow file, dispatch it, list and read its runs and jobs, cancel and
re-run, and read a job's log — against the real server, with a real `runnerhub-agent`
running the jobs.

One organization-wide agent serves the module; each test works in a repository of its own.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from github import Auth, Github
from github.Commit import Commit
from github.ContentFile import ContentFile
from githubkit import GitHub

from runnerhub.storage.database import Database
from runnerhub.testing import eventually
from tests.agents import RunningAgent, configure, start_agent
from tests.factories import World
from tests.helpers import auth
from tests.server import ServerProcess

WORKFLOW = ".github/workflows/ci.yml"

# Only dispatched: writing it starts no run.
MANUAL = """\
name: CI
on:
  workflow_dispatch:
    inputs:
      greeting:
        description: what to say
        default: hi
jobs:
  hello:
    runs-on: [self-hosted, linux]
    steps:
      - name: Greet
        run: echo "greeting is ${{ inputs.greeting || github.event_name }}"
"""

# The same file, now also run on push.
PUSHED = MANUAL.replace("on:\n", "on:\n  push:\n", 1)

SLOW = """\
name: CI
on: push
jobs:
  wait:
    runs-on: self-hosted
    steps:
      - run: echo started; sleep 60
"""


@dataclass
class Org:
    url: str
    world: World
    org: str
    token: str
    agent: RunningAgent

    def repo(self) -> str:
        """A fresh repository of the organization, its full name."""
        return self.world.repo(self.org)


@pytest.fixture(scope="module")
def site(
    server: ServerProcess, db: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Org]:
    world = World(db)
    admin = world.user()
    org = world.org(admin)
    token = world.token(admin, scopes=("repo", "admin:org"))
    registration = httpx.post(
        f"{server.url}/orgs/{org}/actions/runners/registration-token",
        headers=auth(token),
        timeout=30,
    ).json()["token"]
    directory = tmp_path_factory.mktemp("clients") / "client-runner"
    done = configure(directory, f"{server.url}/{org}", registration, "--name", "client-runner")
    assert done.returncode == 0, done.stderr
    agent = start_agent(directory)
    try:
        yield Org(server.url, world, org, token, agent)
    finally:
        agent.stop()


# -- PyGithub


def test_pygithub_drives_the_job_loop(site: Org) -> None:
    gh = Github(base_url=site.url, auth=Auth.Token(site.token))
    repo = gh.get_repo(site.repo())

    created = repo.create_file(WORKFLOW, "add ci", MANUAL)
    file, commit = created["content"], created["commit"]
    assert isinstance(file, ContentFile)
    assert isinstance(commit, Commit)
    assert file.path == WORKFLOW
    assert repo.get_workflow_runs().totalCount == 0  # workflow_dispatch only: nothing ran

    workflow = repo.get_workflow("ci.yml")
    assert (workflow.name, workflow.path, workflow.state) == ("CI", WORKFLOW, "active")
    assert workflow.create_dispatch("main", {"greeting": "bonjour"}) is True
    dispatched = eventually(
        lambda: list(workflow.get_runs()), lambda runs: len(runs) == 1, 10, "the dispatched run"
    )[0]
    assert dispatched.event == "workflow_dispatch"

    run = eventually(
        lambda: repo.get_workflow_run(dispatched.id),
        lambda r: r.status == "completed",
        40,
        "the run to complete",
    )
    assert run.conclusion == "success"
    assert run.run_attempt == 1
    assert run.head_sha == commit.sha
    assert run.head_branch == "main"
    assert run.workflow_id == workflow.id

    [job] = list(run.jobs())
    assert (job.name, job.status, job.conclusion) == ("hello", "completed", "success")
    assert job.runner_name == "client-runner"
    assert job.labels == ["self-hosted", "linux"]
    assert job.run_id == run.id
    steps = [(s.name, s.conclusion) for s in job.steps]
    assert steps[0] == ("Set up job", "success")
    assert ("Greet", "success") in steps
    assert steps[-1][0] == "Complete job"

    # The job's log: PyGithub answers the 302's Location; its requester reads it, with the token.
    location = job.logs_url()
    assert location.startswith(site.url + "/")
    status, _, chunks = gh.requester.getStream(location)
    assert status == 200
    assert "greeting is bonjour" in b"".join(chunks).decode()
    # The run's logs: the documented URL itself, redirect followed.
    status, _headers, chunks = gh.requester.getStream(run.logs_url)
    assert status == 200
    assert b"".join(chunks)[:2] == b"PK"

    # update_file with `on: push` starts a run of the new commit.
    content = repo.get_contents(WORKFLOW)
    assert not isinstance(content, list)
    updated = repo.update_file(WORKFLOW, "run on push too", PUSHED, content.sha)
    pushed = eventually(
        lambda: [r for r in repo.get_workflow_runs() if r.event == "push"],
        lambda runs: len(runs) == 1,
        10,
        "the push run",
    )[0]
    assert pushed.head_sha == updated["commit"].sha
    assert repo.get_workflow_runs().totalCount == 2
    assert {r.id for r in workflow.get_runs()} == {run.id, pushed.id}
    pushed = eventually(
        lambda: repo.get_workflow_run(pushed.id), lambda r: r.status == "completed", 40, "push"
    )
    assert pushed.conclusion == "success"
    [push_job] = list(pushed.jobs())
    assert "greeting is push" in _pygithub_text(gh, push_job.logs_url())  # no inputs on push

    # rerun: a second attempt of the same run, run again by the agent.
    assert run.rerun() is True
    again = eventually(
        lambda: repo.get_workflow_run(run.id),
        lambda r: r.run_attempt == 2 and r.status == "completed",
        40,
        "the second attempt",
    )
    assert again.conclusion == "success"
    assert len(list(again.jobs("all"))) == 2
    [latest] = list(again.jobs())
    assert latest.run_attempt == 2
    assert "greeting is bonjour" in _pygithub_text(gh, latest.logs_url())


def test_pygithub_cancels_a_running_job(site: Org) -> None:
    gh = Github(base_url=site.url, auth=Auth.Token(site.token))
    repo = gh.get_repo(site.repo())
    repo.create_file(WORKFLOW, "slow", SLOW)
    run = eventually(
        lambda: list(repo.get_workflow_runs()), lambda runs: len(runs) == 1, 10, "the run"
    )[0]
    job = eventually(
        lambda: next(iter(run.jobs())), lambda j: j.status == "in_progress", 20, "the job to start"
    )
    eventually(lambda: _pygithub_text(gh, job.logs_url()), lambda t: "started" in t, 20, "live log")
    assert run.cancel() is True
    done = eventually(
        lambda: repo.get_workflow_run(run.id), lambda r: r.status == "completed", 20, "cancel"
    )
    assert done.conclusion == "cancelled"
    [job] = list(done.jobs())
    assert job.conclusion == "cancelled"


def _pygithub_text(gh: Github, url: str) -> str:
    status, _, chunks = gh.requester.getStream(url)
    assert status == 200
    return b"".join(chunks).decode()


# -- githubkit


def test_githubkit_drives_the_job_loop(site: Org) -> None:
    # http_cache off: GitHub's own 60 s Cache-Control would otherwise serve stale runs.
    gh = GitHub(site.token, base_url=site.url, http_cache=False)
    owner, name = site.repo().split("/")
    actions = gh.rest.actions

    put = gh.rest.repos.create_or_update_file_contents(
        owner, name, WORKFLOW, message="add ci", content=base64.b64encode(MANUAL.encode()).decode()
    )
    assert put.status_code == 201
    file = put.parsed_data
    assert file.content is not None
    assert file.content.path == WORKFLOW
    first_commit = file.commit.sha

    got = gh.rest.repos.get_content(owner, name, WORKFLOW).parsed_data
    assert base64.b64decode(getattr(got, "content", "")).decode() == MANUAL

    workflows = actions.list_repo_workflows(owner, name).parsed_data
    [workflow] = workflows.workflows
    assert workflow.path == WORKFLOW
    assert actions.get_workflow(owner, name, "ci.yml").parsed_data.id == workflow.id

    sent = actions.create_workflow_dispatch(
        owner, name, "ci.yml", ref="main", inputs={"greeting": "hallo"}
    )
    assert sent.status_code == 204
    listed = eventually(
        lambda: actions.list_workflow_runs_for_repo(owner, name).parsed_data,
        lambda page: page.total_count == 1,
        10,
        "the dispatched run",
    )
    run_id = listed.workflow_runs[0].id
    assert listed.workflow_runs[0].head_sha == first_commit
    by_workflow = actions.list_workflow_runs(owner, name, "ci.yml").parsed_data
    assert [r.id for r in by_workflow.workflow_runs] == [run_id]
    assert actions.list_workflow_runs_for_repo(owner, name, status="queued").parsed_data

    run = eventually(
        lambda: actions.get_workflow_run(owner, name, run_id).parsed_data,
        lambda r: r.status == "completed",
        40,
        "the run to complete",
    )
    assert (run.conclusion, run.run_attempt, run.event) == ("success", 1, "workflow_dispatch")
    assert run.repository.full_name == f"{owner}/{name}"

    jobs = actions.list_jobs_for_workflow_run(owner, name, run_id).parsed_data
    [job] = jobs.jobs
    assert (job.name, job.conclusion, job.runner_name) == ("hello", "success", "client-runner")
    assert job.labels == ["self-hosted", "linux"]
    assert job.steps
    assert job.steps[0].name == "Set up job"
    assert actions.get_job_for_workflow_run(owner, name, job.id).parsed_data.id == job.id

    # 302 to the log; githubkit's httpx client follows it with the token.
    log = actions.download_job_logs_for_workflow_run(owner, name, job.id)
    assert log.status_code == 200
    assert "greeting is hallo" in log.text
    zipped = actions.download_workflow_run_logs(owner, name, run_id)
    assert zipped.status_code == 200
    assert zipped.content[:2] == b"PK"

    # A second write through the contents API (with the blob's sha) and a re-run.
    assert file.content.sha
    update = gh.rest.repos.create_or_update_file_contents(
        owner,
        name,
        WORKFLOW,
        message="push too",
        content=base64.b64encode(PUSHED.encode()).decode(),
        sha=file.content.sha,
    )
    assert update.status_code == 200
    pushed = eventually(
        lambda: actions.list_workflow_runs_for_repo(owner, name, event="push").parsed_data,
        lambda page: page.total_count == 1 and page.workflow_runs[0].status == "completed",
        40,
        "the push run",
    )
    assert pushed.workflow_runs[0].conclusion == "success"
    assert actions.re_run_workflow(owner, name, run_id).status_code == 201
    again = eventually(
        lambda: actions.get_workflow_run(owner, name, run_id).parsed_data,
        lambda r: r.run_attempt == 2 and r.status == "completed",
        40,
        "the second attempt",
    )
    assert again.conclusion == "success"
    every = actions.list_jobs_for_workflow_run(owner, name, run_id, filter_="all").parsed_data
    assert every.total_count == 2


# -- the gh CLI
#
# gh sends every custom host to https://HOST/api/v3 (GH_HOST, `--hostname`, `-R HOST/O/R`);
# a plain-http server answers that with "http: server gave HTTP response to HTTPS client".
# `gh api` with a full http:// URL goes where it is told, with GH_ENTERPRISE_TOKEN (GH_TOKEN
# is for github.com only).

GH = shutil.which("gh")


def _gh(site: Org, tmp: Path, *args: str) -> Any:
    out = _gh_text(site, tmp, *args)
    return json.loads(out) if out.strip() else None


def _gh_text(site: Org, tmp: Path, *args: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "GH_CONFIG_DIR": str(tmp / "gh"),
        "GH_ENTERPRISE_TOKEN": site.token,
        "GH_NO_UPDATE_NOTIFIER": "1",
        "GH_PROMPT_DISABLED": "1",
        "NO_COLOR": "1",
    }
    assert GH is not None
    done = subprocess.run(
        [GH, "api", *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.mark.skipif(GH is None, reason="the gh CLI is not installed")
def test_gh_api_over_http_lists_runs_and_jobs(site: Org, tmp_path: Path) -> None:
    full = site.repo()
    api = f"{site.url}/repos/{full}"
    gh = GitHub(site.token, base_url=site.url, http_cache=False)
    owner, name = full.split("/")
    content = base64.b64encode(PUSHED.encode()).decode()
    written = _gh(
        site, tmp_path, "-X", "PUT", f"{api}/contents/{WORKFLOW}",
        "-f", "message=ci", "-f", f"content={content}",
    )  # fmt: skip
    assert written["content"]["path"] == WORKFLOW
    eventually(
        lambda: _gh(site, tmp_path, f"{api}/actions/runs?status=completed"),
        lambda body: body["total_count"] == 1,
        40,
        "the push run to complete",
    )
    _gh(
        site, tmp_path, "-X", "POST", f"{api}/actions/workflows/ci.yml/dispatches",
        "-f", "ref=main", "-f", "inputs[greeting]=hej",
    )  # fmt: skip
    runs = eventually(
        lambda: _gh(site, tmp_path, f"{api}/actions/runs"),
        lambda body: body["total_count"] == 2,
        10,
        "the dispatched run",
    )
    dispatched = next(r for r in runs["workflow_runs"] if r["event"] == "workflow_dispatch")
    eventually(
        lambda: gh.rest.actions.get_workflow_run(owner, name, dispatched["id"]).parsed_data,
        lambda r: r.status == "completed",
        40,
        "the run to complete",
    )
    run = _gh(site, tmp_path, f"{api}/actions/runs/{dispatched['id']}")
    assert run["conclusion"] == "success"
    jobs = _gh(site, tmp_path, f"{api}/actions/runs/{run['id']}/jobs")
    [job] = jobs["jobs"]
    assert job["runner_name"] == "client-runner"
    # --paginate follows the Link header's http:// URLs.
    paged = _gh_text(
        site,
        tmp_path,
        "--paginate",
        "--jq",
        ".workflow_runs[].id",
        f"{api}/actions/runs?per_page=1",
    )
    assert sorted(int(n) for n in paged.split()) == sorted(r["id"] for r in runs["workflow_runs"])
    # GHES-style root too.
    assert _gh(site, tmp_path, f"{site.url}/api/v3/repos/{full}/actions/runs")["total_count"] == 2


# -- octokit


NODE, NPM = shutil.which("node"), shutil.which("npm")


@pytest.fixture(scope="session")
def octokit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if NODE is None or NPM is None:
        pytest.skip("node and npm are not installed")
    directory = tmp_path_factory.mktemp("octokit")
    (directory / "package.json").write_text('{"name": "clients", "private": true}')
    try:
        done = subprocess.run(
            [NPM, "install", "--no-audit", "--no-fund", "--loglevel=error", "@octokit/rest"],
            cwd=directory, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.skip("npm install @octokit/rest took over 30 s")
    if done.returncode != 0:
        pytest.skip(f"npm install @octokit/rest failed: {done.stderr[-500:]}")
    return directory


OCTOKIT_SCRIPT = """\
import { Octokit } from "@octokit/rest";
const [baseUrl, owner, repo] = process.argv.slice(2);
const octokit = new Octokit({ auth: process.env.TOKEN, baseUrl });
const out = {};
const put = await octokit.rest.repos.createOrUpdateFileContents({
  owner, repo, path: ".github/workflows/ci.yml", message: "ci",
  content: Buffer.from(process.env.WORKFLOW).toString("base64"),
});
out.put = put.status;
const sent = await octokit.rest.actions.createWorkflowDispatch({
  owner, repo, workflow_id: "ci.yml", ref: "main", inputs: { greeting: "ciao" },
});
out.dispatch = sent.status;
let run;
for (let i = 0; i < 200; i++) {
  const { data } = await octokit.rest.actions.listWorkflowRunsForRepo({ owner, repo });
  run = data.workflow_runs[0];
  if (run && run.status === "completed") break;
  await new Promise((r) => setTimeout(r, 200));
}
out.run = { id: run.id, status: run.status, conclusion: run.conclusion, event: run.event };
const runs = await octokit.paginate(octokit.rest.actions.listWorkflowRunsForRepo, {
  owner, repo, per_page: 1,
});
out.paged = runs.length;
const jobs = await octokit.rest.actions.listJobsForWorkflowRun({ owner, repo, run_id: run.id });
out.jobs = jobs.data.jobs.map((j) => [j.name, j.conclusion, j.runner_name]);
const log = await octokit.rest.actions.downloadJobLogsForWorkflowRun({
  owner, repo, job_id: jobs.data.jobs[0].id,
});
out.log = { status: log.status, text: String(log.data) };
console.log(JSON.stringify(out));
"""


def test_octokit_dispatches_and_lists_runs(site: Org, octokit: Path) -> None:
    assert NODE is not None
    script = octokit / "loop.mjs"
    script.write_text(OCTOKIT_SCRIPT)
    owner, name = site.repo().split("/")
    env = {**os.environ, "TOKEN": site.token, "WORKFLOW": MANUAL}
    done = subprocess.run(
        [NODE, str(script), site.url, owner, name],
        cwd=octokit, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["put"], out["dispatch"]) == (201, 204)
    assert out["run"]["status"] == "completed"
    assert (out["run"]["conclusion"], out["run"]["event"]) == ("success", "workflow_dispatch")
    assert out["paged"] == 1
    assert out["jobs"] == [["hello", "success", "client-runner"]]
    assert out["log"]["status"] == 200
    assert "greeting is ciao" in out["log"]["text"]


# -- a job waiting for a busy runner


def test_a_job_queued_behind_a_busy_runner_starts_when_it_frees(site: Org) -> None:
    """The runner's held poll (30 s with the default window) is answered the moment its
    previous job completes and it takes the waiting one."""
    gh = GitHub(site.token, base_url=site.url, http_cache=False)
    owner, name = site.repo().split("/")
    actions = gh.rest.actions
    busy = PUSHED.replace('run: echo "greeting', 'run: sleep 2; echo "greeting')
    content = base64.b64encode(busy.encode()).decode()
    gh.rest.repos.create_or_update_file_contents(
        owner, name, WORKFLOW, message="m", content=content
    )
    eventually(
        lambda: actions.list_workflow_runs_for_repo(owner, name, status="in_progress").parsed_data,
        lambda page: page.total_count == 1,
        10,
        "the push run to start",
    )
    actions.create_workflow_dispatch(owner, name, "ci.yml", ref="main")
    eventually(  # the first takes ~2 s, the second as long: 12 s is plenty
        lambda: actions.list_workflow_runs_for_repo(owner, name, status="completed").parsed_data,
        lambda page: page.total_count == 2,
        12,
        "both runs to complete",
    )
