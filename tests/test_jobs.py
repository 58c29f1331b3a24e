"""Jobs on the real database, through the domain: routing by label and scope, needs,
fail-fast, claims exactly once, lost runners, the queue limit, ephemeral runners."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from runnerhub.domain import contents, run_history, runs
from runnerhub.domain import environments as environment_rules
from runnerhub.domain import jobs as job_rules
from runnerhub.domain import labels as label_rules
from runnerhub.domain.scopes import Scope
from runnerhub.storage import jobs as job_rows
from runnerhub.storage import runner_groups as group_rows
from runnerhub.storage import runners
from runnerhub.storage.database import Database
from runnerhub.storage.unit_of_work import UnitOfWork
from tests.factories import World, unique

WINDOW = timedelta(seconds=60)


class Fleet:
    """An enterprise, an organization in it and a repository of the organization."""

    def __init__(self, world: World) -> None:
        self.world, self.db = world, world.db
        admin = world.user()
        enterprise = world.enterprise(admin)
        org = world.org(admin, enterprise=enterprise)
        self.repo = world.scope("repo", world.repo(org, private=True))
        self.public_repo = world.scope("repo", world.repo(org))
        self.org = world.scope("org", org)
        self.enterprise = world.scope("enterprise", enterprise)
        user_id = self.db.read(
            lambda c: c.execute(text("SELECT id FROM accounts WHERE login = :l"), {"l": admin})
        ).scalar_one()
        self.origin = runs.Origin(user_id, admin, "http://127.0.0.1", "http://127.0.0.1", WINDOW)
        self.pushed: set[tuple[int, str]] = set()

    def runner(self, scope: Scope, labels: tuple[str, ...] = ("self-hosted", "linux"), *,
               ephemeral: bool = False, online: bool = True,
               group: int | None = None) -> int:  # fmt: skip
        """A runner of the scope, in `group` (runner_groups.id) or the scope's Default."""
        now = datetime.now(UTC)

        def work(uow: UnitOfWork) -> int:
            if group is None:
                default = runners.group_id(uow.conn, scope.id, 1)
                assert default is not None
            in_group = default if group is None else group
            runner_id = runners.insert(
                uow.conn, scope_id=scope.id, group_id=in_group, name=unique("r"), os="linux",
                ephemeral=ephemeral, work_folder="_work", public_key=None, client_id=None,
                now=now,
            )  # fmt: skip
            label_rules.attach_initial(uow, scope, runner_id, labels)
            seen = now if online else now - 2 * WINDOW
            uow.conn.execute(
                text("UPDATE runners SET session_id = :s, last_seen_at = :t WHERE id = :i"),
                {"s": unique("session"), "t": seen.replace(tzinfo=None), "i": runner_id},
            )
            return runner_id

        return self.db.transact(work)

    def push(self, workflow: str, repo: Scope | None = None, file: str = "ci.yml") -> int:
        """Write a workflow file (of the fleet's private repository unless told): each write
        is a commit and starts one run."""
        now = datetime.now(UTC)
        repo = repo or self.repo
        path = f".github/workflows/{file}"

        def work(uow: UnitOfWork) -> None:
            current = contents.get_file(uow, repo, path) if (repo.id, path) in self.pushed else None
            sha = current.sha if isinstance(current, contents.ContentFile) else None
            change = contents.FileChange(path, "ci", workflow.encode(), sha, None, self.origin)
            contents.put_file(uow, repo, change, now)

        self.db.transact(work)
        self.pushed.add((repo.id, path))
        page = self.db.transact(
            lambda uow: run_history.list_runs(uow, repo, {}, 1, 1), write=False
        )
        return page.runs[0].id

    def jobs(self, run_id: int, repo: Scope | None = None) -> dict[str, Any]:
        found = self.db.transact(
            lambda uow: run_history.run_jobs(uow, repo or self.repo, run_id), write=False
        )
        return {job.name: job for job in found}

    def group(self, scope: Scope, *, visibility: str = "all", public: bool = False,
              workflows: tuple[str, ...] = (), repos: tuple[Scope, ...] = (),
              orgs: tuple[Scope, ...] = ()) -> int:  # fmt: skip
        """A runner group of the scope (runner_groups.id), as the API would make it."""

        def work(uow: UnitOfWork) -> int:
            row = group_rows.insert(
                uow.conn, scope.id, name=unique("group"), visibility=visibility,
                allows_public_repositories=public, restricted_to_workflows=bool(workflows),
                selected_workflows=workflows,
            )  # fmt: skip
            assert row is not None
            group_rows.set_selected(uow.conn, "repositories", row.id, [r.subject_id for r in repos])
            group_rows.set_selected(uow.conn, "organizations", row.id, [o.subject_id for o in orgs])
            return row.id

        return self.db.transact(work)

    def run(self, run_id: int) -> Any:
        return self.db.transact(
            lambda uow: run_history.get_run(uow, self.repo, run_id), write=False
        )

    def take(self, runner_id: int) -> dict[str, Any] | None:
        """What the runner's poll would answer, after offering it work."""
        now = datetime.now(UTC)

        def work(uow: UnitOfWork) -> dict[str, Any] | None:
            job_rules.offer(uow, runner_id, now, WINDOW)
            return job_rules.message_for(uow, runner_id)

        return self.db.transact(work)

    def finish(self, runner_id: int, job_id: int, conclusion: str = "success",
               outputs: dict[str, str] | None = None) -> None:  # fmt: skip
        now = datetime.now(UTC)

        def work(uow: UnitOfWork) -> None:
            job_rules.acknowledge(uow, runner_id, job_id, now)
            job_rules.complete(uow, runner_id, job_id, conclusion, outputs or {}, [], now)

        self.db.transact(work)


@pytest.fixture
def fleet(world: World) -> Fleet:
    return Fleet(world)


def workflow(jobs: str, on: str = "push") -> str:
    return f"name: CI\non: {on}\njobs:\n{jobs}"


ONE = workflow("  build:\n    runs-on: [self-hosted, linux]\n    steps:\n      - run: echo hi\n")


def test_a_pushed_workflow_queues_its_job_and_an_idle_runner_takes_it(fleet: Fleet) -> None:
    runner = fleet.runner(fleet.repo)
    run_id = fleet.push(ONE)
    job = fleet.jobs(run_id)["build"]
    assert (job.status, job.runner_id) == ("in_progress", runner)  # routed at once
    message = fleet.take(runner)
    assert message is not None
    assert message["messageType"] == "RunnerJobRequest"
    assert message["body"]["jobId"] == job.id
    assert message["body"]["contexts"]["github"]["sha"] == fleet.run(run_id).head_sha
    fleet.finish(runner, job.id)
    assert fleet.run(run_id).conclusion == "success"
    assert fleet.take(runner) is None


def test_routing_prefers_the_repository_then_organization_then_enterprise(fleet: Fleet) -> None:
    in_enterprise = fleet.runner(fleet.enterprise)
    in_org = fleet.runner(fleet.org)
    in_repo = fleet.runner(fleet.repo)
    taken = []
    for _ in range(3):
        run_id = fleet.push(ONE)
        taken.append(fleet.jobs(run_id)["build"].runner_id)
    assert taken == [in_repo, in_org, in_enterprise]


# -- routing honours runner groups (domain/group_access.py)


def test_a_selected_group_takes_jobs_of_its_repositories_only(fleet: Fleet) -> None:
    other = fleet.world.scope("repo", fleet.world.repo(fleet.org.name, private=True))
    group = fleet.group(fleet.org, visibility="selected", repos=(fleet.repo,))
    runner = fleet.runner(fleet.org, group=group)
    elsewhere = fleet.push(ONE, other)
    assert fleet.jobs(elsewhere, other)["build"].status == "queued"
    assert fleet.take(runner) is None  # offered the queue: nothing it may take
    mine = fleet.push(ONE)
    assert fleet.jobs(mine)["build"].runner_id == runner
    fleet.finish(runner, fleet.jobs(mine)["build"].id)
    assert fleet.jobs(elsewhere, other)["build"].status == "queued"

    def select_both(uow: UnitOfWork) -> None:
        group_rows.set_selected(uow.conn, "repositories", group, [fleet.repo.subject_id,
                                                                  other.subject_id])  # fmt: skip

    fleet.db.transact(select_both)  # the group now serves it: the next offer takes it
    message = fleet.take(runner)
    assert message is not None
    assert message["body"]["jobId"] == fleet.jobs(elsewhere, other)["build"].id


def test_public_repositories_only_on_groups_that_allow_them(fleet: Fleet) -> None:
    closed = fleet.runner(fleet.org, group=fleet.group(fleet.org))
    private_only = fleet.runner(fleet.org, group=fleet.group(fleet.org, visibility="private",
                                                             public=True))  # fmt: skip
    run_id = fleet.push(ONE, fleet.public_repo)
    assert fleet.jobs(run_id, fleet.public_repo)["build"].status == "queued"
    open_to_public = fleet.runner(fleet.org, group=fleet.group(fleet.org, public=True))
    assert fleet.take(open_to_public) is not None
    assert fleet.jobs(run_id, fleet.public_repo)["build"].runner_id == open_to_public
    private_run = fleet.push(ONE)  # a private repository: either closed group may take it
    assert fleet.jobs(private_run)["build"].runner_id in (closed, private_only)


def test_the_enterprise_default_group_serves_no_public_repository(fleet: Fleet) -> None:
    """Enterprise Default allows no public repositories (as GitHub's): a public repository's
    job waits for a runner of a group that does."""
    fleet.runner(fleet.enterprise)
    run_id = fleet.push(ONE, fleet.public_repo)
    assert fleet.jobs(run_id, fleet.public_repo)["build"].status == "queued"
    assert fleet.jobs(fleet.push(ONE))["build"].runner_id is not None  # a private one runs


def test_enterprise_groups_serve_the_organizations_they_select(fleet: Fleet) -> None:
    world = fleet.world
    stranger = world.scope("org", world.org(world.user(), enterprise=fleet.enterprise.name))
    theirs = fleet.runner(fleet.enterprise, group=fleet.group(
        fleet.enterprise, visibility="selected", orgs=(stranger,)))  # fmt: skip
    run_id = fleet.push(ONE)
    assert fleet.jobs(run_id)["build"].status == "queued"
    assert fleet.take(theirs) is None
    ours = fleet.runner(fleet.enterprise, group=fleet.group(
        fleet.enterprise, visibility="selected", orgs=(fleet.org,)))  # fmt: skip
    assert fleet.take(ours) is not None
    assert fleet.jobs(run_id)["build"].runner_id == ours


def test_groups_restricted_to_workflows_take_only_those(fleet: Fleet) -> None:
    listed = f"{fleet.repo.name}/.github/workflows/deploy.yml@refs/heads/main"
    restricted = fleet.runner(fleet.org, group=fleet.group(fleet.org, workflows=(listed,)))
    ci = fleet.push(ONE)
    assert fleet.jobs(ci)["build"].status == "queued"
    deploy = fleet.push(ONE, file="deploy.yml")
    assert fleet.jobs(deploy)["build"].runner_id == restricted
    assert fleet.jobs(ci)["build"].status == "queued"


def test_labels_nothing_matches_stay_queued_and_cancel_cleanly(fleet: Fleet) -> None:
    fleet.runner(fleet.repo, ("self-hosted", "linux"))
    offline = fleet.runner(fleet.repo, ("self-hosted", "gpu"), online=False)
    run_id = fleet.push(
        workflow("  build:\n    runs-on: [self-hosted, GPU]\n    steps:\n      - run: x\n")
    )
    assert fleet.jobs(run_id)["build"].status == "queued"
    assert fleet.take(offline) is None  # offline runners take nothing
    from runnerhub.domain import run_control

    now = datetime.now(UTC)
    fleet.db.transact(lambda uow: run_control.cancel(uow, fleet.repo, run_id, now))
    job = fleet.jobs(run_id)["build"]
    assert (job.status, job.conclusion, job.steps) == ("completed", "cancelled", [])
    run = fleet.run(run_id)
    assert (run.status, run.conclusion) == ("completed", "cancelled")


def test_a_failed_need_skips_its_dependants_unless_they_ask_always(fleet: Fleet) -> None:
    runner = fleet.runner(fleet.repo)
    run_id = fleet.push(workflow(
        "  first:\n    runs-on: self-hosted\n    steps:\n      - run: exit 1\n"
        "  second:\n    needs: first\n    runs-on: self-hosted\n    steps:\n      - run: x\n"
        "  report:\n    needs: first\n    if: always()\n    runs-on: self-hosted\n"
        "    steps:\n      - run: x\n"
    ))  # fmt: skip
    first = fleet.jobs(run_id)["first"]
    fleet.finish(runner, first.id, "failure")
    jobs = fleet.jobs(run_id)
    assert jobs["second"].conclusion == "skipped"
    report = fleet.take(runner)
    assert report is not None
    assert report["body"]["jobKey"] == "report"
    assert report["body"]["contexts"]["needs"] == {"first": {"result": "failure", "outputs": {}}}
    fleet.finish(runner, report["body"]["jobId"])
    assert fleet.run(run_id).conclusion == "failure"


def test_outputs_flow_to_dependants(fleet: Fleet) -> None:
    runner = fleet.runner(fleet.repo)
    run_id = fleet.push(workflow(
        "  make:\n    runs-on: self-hosted\n    outputs:\n      v: ${{ steps.s.outputs.v }}\n"
        "    steps:\n      - id: s\n        run: echo v=1 >> $GITHUB_OUTPUT\n"
        "  use:\n    needs: make\n    runs-on: self-hosted\n    steps:\n      - run: x\n"
    ))  # fmt: skip
    fleet.finish(runner, fleet.jobs(run_id)["make"].id, outputs={"v": "42"})
    message = fleet.take(runner)
    assert message is not None
    assert message["body"]["contexts"]["needs"]["make"]["outputs"] == {"v": "42"}


def test_fail_fast_cancels_the_rest_of_the_matrix(fleet: Fleet) -> None:
    runner = fleet.runner(fleet.repo)
    run_id = fleet.push(workflow(
        "  build:\n    runs-on: self-hosted\n    strategy:\n      matrix:\n        n: [1, 2, 3]\n"
        "    steps:\n      - run: x\n"
    ))  # fmt: skip
    jobs = fleet.jobs(run_id)
    assert sorted(jobs) == ["build (1)", "build (2)", "build (3)"]
    fleet.finish(runner, jobs["build (1)"].id, "failure")
    after = fleet.jobs(run_id)
    assert {after[n].conclusion for n in ("build (2)", "build (3)")} == {"cancelled"}
    assert fleet.run(run_id).conclusion == "failure"


def test_fail_fast_cancels_a_matrix_of_256_at_once(fleet: Fleet) -> None:
    """GitHub's largest matrix: its 255 queued siblings are cancelled in one transaction
    (each cancellation once moved the run on, a recursion as deep as the matrix)."""
    runner = fleet.runner(fleet.repo)
    run_id = fleet.push(workflow(
        "  build:\n    runs-on: self-hosted\n    strategy:\n      matrix:\n"
        "        a: [" + ", ".join(map(str, range(16))) + "]\n"
        "        b: [" + ", ".join(map(str, range(16))) + "]\n"
        "    steps:\n      - run: x\n"
        "  report:\n    needs: build\n    runs-on: self-hosted\n    steps:\n      - run: x\n"
    ))  # fmt: skip
    jobs = fleet.jobs(run_id)
    assert len(jobs) == 257
    running = [j for j in jobs.values() if j.runner_id == runner]
    fleet.finish(runner, running[0].id, "failure")
    after = fleet.jobs(run_id)
    report = after.pop("report")
    assert sorted(j.conclusion for j in after.values()) == ["cancelled"] * 255 + ["failure"]
    assert (report.status, report.conclusion) == ("completed", "skipped")  # it needed them
    assert fleet.run(run_id).conclusion == "failure"


def test_max_parallel_holds_the_matrix_back(fleet: Fleet) -> None:
    runners_ = [fleet.runner(fleet.repo) for _ in range(3)]
    run_id = fleet.push(workflow(
        "  build:\n    runs-on: self-hosted\n    strategy:\n      max-parallel: 1\n"
        "      matrix:\n        n: [1, 2, 3]\n    steps:\n      - run: x\n"
    ))  # fmt: skip
    for left in (2, 1, 0):
        running = [j for j in fleet.jobs(run_id).values() if j.status == "in_progress"]
        assert len(running) == 1
        queued = [j for j in fleet.jobs(run_id).values() if j.status == "queued"]
        assert len(queued) == left
        assert running[0].runner_id is not None
        fleet.finish(running[0].runner_id, running[0].id)
    assert fleet.run(run_id).conclusion == "success"
    assert len(runners_) == 3


def test_an_ephemeral_runner_takes_one_job_and_is_gone(fleet: Fleet) -> None:
    once = fleet.runner(fleet.repo, ephemeral=True)
    run_id = fleet.push(ONE)
    fleet.finish(once, fleet.jobs(run_id)["build"].id)
    gone = fleet.db.read(
        lambda c: c.execute(text("SELECT count(*) FROM runners WHERE id = :i"), {"i": once})
    ).scalar_one()
    assert gone == 0
    assert fleet.jobs(run_id)["build"].runner_name is not None  # the job remembers it


def test_a_lost_runner_fails_its_job_with_githubs_message(fleet: Fleet) -> None:
    runner = fleet.runner(fleet.repo)
    run_id = fleet.push(ONE)
    job = fleet.jobs(run_id)["build"]
    later = datetime.now(UTC) + 2 * WINDOW
    failed = fleet.db.transact(lambda uow: job_rules.fail_lost(uow, later, WINDOW))
    assert failed >= 1
    job = fleet.jobs(run_id)["build"]
    assert job.conclusion == "failure"
    log = fleet.db.transact(lambda uow: job_rules.log_text(uow, job.id), write=False)
    assert "lost communication with the server" in log
    assert fleet.db.transact(lambda uow: job_rows.held_by(uow.conn, runner)) is None


def test_a_job_queued_for_a_day_is_cancelled(fleet: Fleet) -> None:
    run_id = fleet.push(
        workflow("  build:\n    runs-on: nothing-has-this\n    steps:\n      - run: x\n")
    )
    tomorrow = datetime.now(UTC) + timedelta(hours=25)
    fleet.db.transact(lambda uow: job_rules.cancel_stale(uow, tomorrow))
    assert fleet.jobs(run_id)["build"].conclusion == "cancelled"


def test_a_job_is_claimed_exactly_once_under_concurrency(fleet: Fleet, db: Database) -> None:
    idle = [fleet.runner(fleet.repo, ("self-hosted", "race")) for _ in range(8)]
    run_id = fleet.push(workflow(
        "  build:\n    runs-on: [self-hosted, race]\n    strategy:\n      matrix:\n"
        "        n: [1, 2, 3, 4, 5]\n    steps:\n      - run: x\n"
    ))  # fmt: skip
    with ThreadPoolExecutor(8) as pool:
        messages = list(pool.map(fleet.take, idle))
    held = [m["body"]["jobId"] for m in messages if m is not None]
    assert len(held) == len(set(held)) == 5
    jobs = fleet.jobs(run_id).values()
    assert len({job.runner_id for job in jobs}) == 5


def test_a_run_ends_when_its_last_jobs_complete_at_once(fleet: Fleet) -> None:
    """Each completion reads the run's jobs to roll it up: two in flight together must not
    each miss the other's (on PostgreSQL the run's row is locked first)."""
    pair = [fleet.runner(fleet.repo, ("self-hosted", "pair")) for _ in range(2)]
    for attempt in range(10):
        run_id = fleet.push(workflow(
            "  build:\n    runs-on: [self-hosted, pair]\n    strategy:\n      matrix:\n"
            f"        n: [1, 2]\n    steps:\n      - run: x\n# {attempt}\n"
        ))  # fmt: skip
        held = [message["body"]["jobId"] for message in map(fleet.take, pair) if message]
        together = threading.Barrier(2)

        def complete(runner_id: int, job_id: int, together: threading.Barrier = together) -> None:
            together.wait()
            fleet.finish(runner_id, job_id)

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(complete, pair, held))
        run = fleet.run(run_id)
        assert (run.status, run.conclusion) == ("completed", "success")


def test_an_invalid_workflow_file_gets_a_run_that_fails_at_once(fleet: Fleet) -> None:
    run_id = fleet.push("name: broken\non: push\njobs:\n  build:\n    steps: [")
    run = fleet.run(run_id)
    assert (run.status, run.conclusion) == ("completed", "failure")
    assert fleet.jobs(run_id) == {}


def test_cancelling_a_running_job_tells_its_agent_once(fleet: Fleet) -> None:
    from runnerhub.domain import run_control

    runner = fleet.runner(fleet.repo)
    run_id = fleet.push(ONE)
    job = fleet.jobs(run_id)["build"]
    fleet.db.transact(lambda uow: job_rules.acknowledge(uow, runner, job.id, datetime.now(UTC)))
    now = datetime.now(UTC)
    fleet.db.transact(lambda uow: run_control.cancel(uow, fleet.repo, run_id, now))
    told = fleet.take(runner)
    assert told is not None
    assert (told["messageType"], told["body"]) == ("JobCancellation", {"jobId": job.id})
    assert fleet.take(runner) is None  # once; the agent ends the job
    fleet.finish(runner, job.id, "cancelled")
    assert fleet.run(run_id).conclusion == "cancelled"


def test_a_job_waiting_for_its_environment_goes_to_a_runner_once_approved(fleet: Fleet) -> None:
    runner = fleet.runner(fleet.repo)
    now = datetime.now(UTC)

    def protect(uow: UnitOfWork) -> int:
        reviewers = [("User", fleet.origin.actor_id)]
        change = environment_rules.EnvironmentChange(reviewers=reviewers)
        return environment_rules.put_environment(uow, fleet.repo, "prod", change, now).id

    environment_id = fleet.db.transact(protect)
    run_id = fleet.push(workflow(
        "  deploy:\n    runs-on: [self-hosted, linux]\n    environment: prod\n"
        "    steps:\n      - run: x\n"
    ))  # fmt: skip
    job = fleet.jobs(run_id)["deploy"]
    assert (job.status, job.runner_id) == ("waiting", None)  # the idle runner is not given it
    assert fleet.take(runner) is None
    fleet.db.transact(lambda uow: environment_rules.review(
        uow, fleet.repo, run_id, [environment_id], "approved", "", fleet.origin.actor_id, now,
    ))  # fmt: skip
    job = fleet.jobs(run_id)["deploy"]
    assert (job.status, job.runner_id) == ("in_progress", runner)  # routed at once
    fleet.finish(runner, job.id)
    assert fleet.run(run_id).conclusion == "success"
