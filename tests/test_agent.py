"""The runner agent end to end: real server process, real agent processes, loopback only."""

from __future__ import annotations

import ast
import json
import re
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import update

from runnerhub.agent import stop
from runnerhub.auth.secrets import hash_token
from runnerhub.runner_config import (
    RunnerFiles,
    config_files,
    decode_jit_config,
    jit_files,
    parse_files,
)
from runnerhub.storage.database import Database
from runnerhub.storage.tables import runner_tokens
from tests.agents import AGENT, ENV, access_token, agent, configure, start_agent, wait_for
from tests.factories import World
from tests.helpers import ALL_SCOPES, auth
from tests.server import ServerProcess, start_server

WINDOW = 4  # seconds: short, so that a killed agent reads offline quickly


@pytest.fixture(scope="module")
def live(db: Database, database_url: str, workdir: Path) -> Iterator[ServerProcess]:
    process = start_server(database_url, workdir, offline_after_seconds=str(WINDOW))
    yield process
    process.stop()


class Fleet:
    """One scope, its admin token, and helpers to read its runners over the REST API."""

    def __init__(self, server: ServerProcess, world: World, kind: str) -> None:
        self.server, self.world = server, world
        admin = world.user()
        self.token = world.token(admin, scopes=ALL_SCOPES)
        if kind == "enterprise":
            slug = world.enterprise(admin)
            self.api, self.web = f"/enterprises/{slug}", f"/enterprises/{slug}"
        elif kind == "org":
            org = world.org(admin)
            self.api, self.web = f"/orgs/{org}", f"/{org}"
        else:
            repo = world.repo(admin)
            self.api, self.web = f"/repos/{repo}", f"/{repo}"
        self.url = server.url + self.web

    def post(self, what: str) -> dict[str, object]:
        path = f"{self.server.url}{self.api}/actions/runners/{what}"
        return dict(httpx.post(path, headers=auth(self.token)).json())

    def registration_token(self) -> str:
        return str(self.post("registration-token")["token"])

    def runners(self) -> dict[str, dict[str, object]]:
        path = f"{self.server.url}{self.api}/actions/runners?per_page=100"
        body = httpx.get(path, headers=auth(self.token)).json()
        return {r["name"]: r for r in body["runners"]}

    def status(self, name: str) -> str | None:
        runner = self.runners().get(name)
        return None if runner is None else str(runner["status"])

    def config(self, directory: Path, name: str, *extra: str) -> None:
        token = self.registration_token()
        done = configure(directory, self.url, token, "--name", name, "--unattended", *extra)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("kind", ["enterprise", "org", "repo"])
def test_register_run_stop_at_every_scope(
    live: ServerProcess, world: World, tmp_path: Path, kind: str
) -> None:
    fleet = Fleet(live, world, kind)
    fleet.config(tmp_path, "box", "--labels", "gpu,big")
    for name in (".runner", ".credentials", ".credentials_rsaparams"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    runner = fleet.runners()["box"]
    assert runner["status"] == "offline"
    assert [lb["name"] for lb in runner["labels"]] == ["self-hosted", "Linux", "X64", "gpu", "big"]
    running = start_agent(tmp_path)
    wait_for(lambda: fleet.status("box") == "online", 20, "the runner to come online")
    assert running.stop(signal.SIGINT) == 0
    assert fleet.status("box") == "offline"  # at once: the agent closed its session


def test_killed_agent_goes_offline_and_comes_back(
    live: ServerProcess, world: World, tmp_path: Path
) -> None:
    fleet = Fleet(live, world, "org")
    fleet.config(tmp_path, "mortal")
    first = start_agent(tmp_path)
    wait_for(lambda: fleet.status("mortal") == "online", 20, "online")
    first.stop(signal.SIGKILL)
    assert fleet.status("mortal") == "online"  # nobody told the server yet
    wait_for(lambda: fleet.status("mortal") == "offline", WINDOW + 3, "offline after the window")
    second = start_agent(tmp_path)  # the abandoned session is taken over
    wait_for(lambda: fleet.status("mortal") == "online", 20, "online again")
    second.stop()


def test_agents_survive_a_server_restart(
    db: Database, database_url: str, workdir: Path, world: World, tmp_path: Path
) -> None:
    server = start_server(database_url, workdir, offline_after_seconds=str(WINDOW))
    fleet = Fleet(server, world, "org")
    fleet.config(tmp_path, "steady")
    running = start_agent(tmp_path)
    wait_for(lambda: fleet.status("steady") == "online", 20, "online")
    port = int(server.url.rsplit(":", 1)[1])
    server.stop()
    restarted = start_server(database_url, workdir, port=port, offline_after_seconds=str(WINDOW))
    try:
        # Past a whole window after the restart it is online only if its polls resumed.
        time.sleep(WINDOW + 1)
        wait_for(lambda: fleet.status("steady") == "online", 10, "online after the restart")
        assert running.process.poll() is None
        assert "cannot reach" in running.log.read_text()
    finally:
        running.stop()
        restarted.stop()


def test_remove_with_a_remove_token(live: ServerProcess, world: World, tmp_path: Path) -> None:
    fleet = Fleet(live, world, "repo")
    fleet.config(tmp_path, "leaving")
    token = str(fleet.post("remove-token")["token"])
    done = agent(tmp_path, "remove", "--token", token)
    assert done.returncode == 0, done.stderr
    assert "leaving" not in fleet.runners()
    assert not (tmp_path / ".runner").exists()
    assert agent(tmp_path, "run").returncode == 6  # nothing configured any more


def test_remove_token_of_another_scope_removes_nothing(
    live: ServerProcess, world: World, tmp_path: Path
) -> None:
    fleet, other = Fleet(live, world, "org"), Fleet(live, world, "org")
    fleet.config(tmp_path, "stays")
    done = agent(tmp_path, "remove", "--token", str(other.post("remove-token")["token"]))
    assert done.returncode == 3
    assert "stays" in fleet.runners()
    assert (tmp_path / ".runner").exists()
    registration = fleet.registration_token()  # a registration token does not remove either
    assert agent(tmp_path, "remove", "--token", registration).returncode == 3


def test_remove_local_only(live: ServerProcess, world: World, tmp_path: Path) -> None:
    fleet = Fleet(live, world, "org")
    fleet.config(tmp_path, "local")
    assert agent(tmp_path, "remove", "--local").returncode == 0
    assert not (tmp_path / ".credentials").exists()
    assert "local" in fleet.runners()


def test_jit_config_starts_without_registration(
    live: ServerProcess, world: World, tmp_path: Path
) -> None:
    fleet = Fleet(live, world, "org")
    path = f"{live.url}{fleet.api}/actions/runners/generate-jitconfig"
    body = {"name": "jitter", "runner_group_id": 1, "labels": ["self-hosted", "gpu"]}
    blob = httpx.post(path, json=body, headers=auth(fleet.token)).json()["encoded_jit_config"]
    running = start_agent(tmp_path, "--jitconfig", blob)
    wait_for(lambda: fleet.status("jitter") == "online", 20, "the JIT runner online")
    # As the official runner does, the blob's files are written as they are: GitHub's form.
    assert json.loads((tmp_path / ".runner").read_text())["AgentName"] == "jitter"
    assert json.loads((tmp_path / ".runner").read_text())["AgentId"] == str(
        fleet.runners()["jitter"]["id"]
    )
    assert decode_jit_config(blob)[".runner"] == json.loads((tmp_path / ".runner").read_text())
    running.stop()
    assert agent(tmp_path / "bad", "run", "--jitconfig", "not-base64!").returncode == 1


def test_expired_unknown_and_foreign_tokens_register_nothing(
    live: ServerProcess, world: World, tmp_path: Path
) -> None:
    fleet = Fleet(live, world, "org")
    expired = fleet.registration_token()
    world.db.write(
        lambda c: c.execute(
            update(runner_tokens)
            .where(runner_tokens.c.token_hash == hash_token(expired))
            .values(expires_at=world.now() - timedelta(seconds=1))
        )
    )
    done = configure(tmp_path, fleet.url, expired, "--name", "late")
    assert done.returncode == 3
    assert "expired" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    unknown = configure(tmp_path, fleet.url, "A" * 29, "--name", "x")
    assert unknown.returncode == 3
    foreign = Fleet(live, world, "org").registration_token()
    other = configure(tmp_path, fleet.url, foreign, "--name", "y")
    assert other.returncode == 3
    assert fleet.runners() == {}
    assert not (tmp_path / ".runner").exists()


def test_one_registration_token_registers_several_runners(
    live: ServerProcess, world: World, tmp_path: Path
) -> None:
    fleet = Fleet(live, world, "org")
    token = fleet.registration_token()
    for name in ("one", "two"):
        done = configure(tmp_path / name, fleet.url, token, "--name", name)
        assert done.returncode == 0, done.stderr
    assert set(fleet.runners()) == {"one", "two"}


def test_name_clash_replace_and_bad_urls(live: ServerProcess, world: World, tmp_path: Path) -> None:
    fleet = Fleet(live, world, "org")
    fleet.config(tmp_path / "a", "twin")
    first_id = fleet.runners()["twin"]["id"]
    token = fleet.registration_token()
    clash = configure(tmp_path / "b", fleet.url, token, "--name", "twin")
    assert clash.returncode == 4
    assert "--replace" in clash.stderr
    replaced = configure(
        tmp_path / "b", fleet.url, token, "--name", "twin", "--replace", "--labels", "new"
    )
    assert replaced.returncode == 0, replaced.stderr
    runner = fleet.runners()["twin"]
    assert runner["id"] == first_id
    assert "new" in [lb["name"] for lb in runner["labels"]]
    # The replaced registration's key no longer works.
    assert agent(tmp_path / "a", "run").returncode == 6
    wrong = configure(tmp_path / "c", f"{live.url}/no-such-org-here", token, "--name", "x")
    assert wrong.returncode == 7
    nowhere = configure(tmp_path / "d", "http://127.0.0.1:9/acme", token, "--name", "x")
    assert nowhere.returncode == 5
    no_labels = configure(tmp_path / "e", fleet.url, token, "--no-default-labels")
    assert no_labels.returncode == 1


def test_deleted_runner_credentials_stop_working_at_once(
    live: ServerProcess, world: World, tmp_path: Path
) -> None:
    fleet = Fleet(live, world, "org")
    fleet.config(tmp_path, "victim")
    settings = json.loads((tmp_path / ".runner").read_text())
    running = start_agent(tmp_path)
    wait_for(lambda: fleet.status("victim") == "online", 20, "online")
    stolen = access_token(tmp_path)
    sessions = f"{live.url}/_apis/runner/sessions"
    assert httpx.post(sessions, headers={"Authorization": f"Bearer {stolen}"}).status_code == 409
    runner_id = settings["agentId"]
    deleted = httpx.delete(
        f"{live.url}{fleet.api}/actions/runners/{runner_id}", headers=auth(fleet.token)
    )
    assert deleted.status_code == 204
    assert httpx.post(sessions, headers={"Authorization": f"Bearer {stolen}"}).status_code == 401
    assert running.process.wait(timeout=30) == 6  # the agent learns it was removed


def test_config_refuses_a_configured_directory(
    live: ServerProcess, world: World, tmp_path: Path
) -> None:
    fleet = Fleet(live, world, "org")
    fleet.config(tmp_path, "first")
    before = (tmp_path / ".credentials").read_text()
    again = configure(tmp_path, fleet.url, fleet.registration_token(), "--name", "second")
    assert again.returncode == 8
    assert "already configured" in again.stderr
    assert "runnerhub-agent remove" in again.stderr
    assert set(fleet.runners()) == {"first"}  # nothing registered: checked before any request
    assert (tmp_path / ".credentials").read_text() == before
    # Even a token the server would refuse is not sent.
    assert configure(tmp_path, "http://127.0.0.1:9/nowhere", "A" * 29).returncode == 8
    replaced = configure(
        tmp_path, fleet.url, fleet.registration_token(), "--name", "first", "--replace"
    )
    assert replaced.returncode == 0, replaced.stderr
    assert set(fleet.runners()) == {"first"}
    assert (tmp_path / ".credentials").read_text() != before  # the new registration's


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_at_any_moment_stops_the_agent(
    live: ServerProcess, world: World, tmp_path: Path, sig: signal.Signals
) -> None:
    fleet = Fleet(live, world, "org")
    fleet.config(tmp_path, "skittish")
    for delay in (0, 0.02, 0.05, 0.1, 0.2, 0.5):
        running = start_agent(tmp_path)
        time.sleep(delay)
        running.process.send_signal(sig)
        try:
            code = running.process.wait(timeout=10)
        finally:
            running.process.kill()
        log = running.log.read_text()
        # Before the agent's main() installs its handlers (the interpreter starting, the
        # modules it imports first: `signal` itself imports enum), the signal's default
        # action ends the process; from there on the agent stops cleanly, with 0. A
        # traceback without the agent's main() in it is from before.
        started = "runnerhub-agent:" in log or re.search(r'agent.cli\.py", line \d+, in main', log)
        assert code == 0 or not started, (delay, code, log)
        assert "Traceback" not in log or not started, (delay, log)
    assert fleet.status("skittish") == "offline"


def test_a_stop_dropped_by_a_finalizer_is_silent_and_raised_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signal whose handler runs in a finalizer (as importlib's module-lock callbacks
    are) has its Stop dropped: it is not reported (Python's hook would print a traceback),
    and `check` raises it again."""
    monkeypatch.setattr(stop, "_received", [])
    reported: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: reported.append(report.exc_value))

    class Finalized:
        def __del__(self) -> None:
            stop._stop(signal.SIGTERM, None)

    with stop.stop_on_signals():
        Finalized()  # dropped at once: its finalizer's Stop goes to sys.unraisablehook
        with pytest.raises(stop.Stop):
            stop.check()
        assert reported == []
        try:
            raise ValueError("not a Stop")
        except ValueError as error:
            sys.unraisablehook(types.SimpleNamespace(exc_value=error))  # type: ignore[arg-type]
    assert [type(r) for r in reported] == [ValueError]  # anything else is reported


def test_the_agent_entry_point_imports_nothing_slow() -> None:
    # The signal handlers are installed first, so the modules imported before them are few.
    slow = {"httpx", "cryptography", "argparse"}
    probe = f"import sys, runnerhub.agent.cli; print(sorted(set(sys.modules) & {slow!r}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=ENV)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
    assert AGENT[-1] == "runnerhub.agent.cli"


def test_config_writes_the_files_as_config_sh_does(
    live: ServerProcess, world: World, tmp_path: Path
) -> None:
    fleet = Fleet(live, world, "repo")
    fleet.config(tmp_path, "official")
    runner = fleet.runners()["official"]
    settings = json.loads((tmp_path / ".runner").read_text())
    assert settings == {
        "agentId": runner["id"],
        "agentName": "official",
        "poolId": runner["runner_group_id"],
        "poolName": "Default",
        "serverUrl": live.url + "/",
        "gitHubUrl": fleet.url,
        "workFolder": "_work",
        "disableUpdate": True,
        "useV2Flow": True,
        "serverUrlV2": live.url + "/",
    }  # no "ephemeral": false and null settings are left out, as RunnerSettings does
    credentials = json.loads((tmp_path / ".credentials").read_text())
    assert credentials["scheme"] == "OAuth"
    assert set(credentials["data"]) == {"clientId", "authorizationUrl", "requireFipsCryptography"}
    params = json.loads((tmp_path / ".credentials_rsaparams").read_text())
    assert set(params) == {"d", "dp", "dq", "exponent", "inverseQ", "modulus", "p", "q"}
    fleet.config(tmp_path / "e", "brief", "--ephemeral")
    assert json.loads((tmp_path / "e" / ".runner").read_text())["ephemeral"] is True


@pytest.mark.parametrize("kind", ["enterprise", "org"])
def test_config_joins_the_runner_group_named(
    live: ServerProcess, world: World, tmp_path: Path, kind: str
) -> None:
    fleet = Fleet(live, world, kind)
    made = httpx.post(
        f"{live.url}{fleet.api}/actions/runner-groups", headers=auth(fleet.token),
        json={"name": "GPU Fleet"},
    ).json()  # fmt: skip
    fleet.config(tmp_path / "in", "gpu-01", "--runnergroup", "gpu fleet")  # names: any case
    assert fleet.runners()["gpu-01"]["runner_group_id"] == made["id"]
    settings = json.loads((tmp_path / "in" / ".runner").read_text())
    assert (settings["poolId"], settings["poolName"].lower()) == (made["id"], "gpu fleet")
    refused = configure(
        tmp_path / "out", fleet.url, fleet.registration_token(), "--name", "lost",
        "--unattended", "--runnergroup", "no such group",
    )  # fmt: skip
    assert refused.returncode != 0
    assert "no such group" in refused.stderr
    assert "lost" not in fleet.runners()
    assert not (tmp_path / "out" / ".runner").exists()


def test_runner_files_read_in_either_spelling(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    runner = RunnerFiles(
        agent_id=3, agent_name="r", pool_id=1, pool_name="Default",
        server_url="http://h/", github_url="http://h/acme", work_folder="_work",
        ephemeral=True, client_id="c", authorization_url="http://h/_apis/oauth2/token/c", key=key,
    )  # fmt: skip
    jit = jit_files(runner)
    assert jit[".runner"]["AgentId"] == "3"  # GitHub's JIT form: PascalCase, ids as strings
    assert set(jit[".credentials"]) == {"Scheme", "Data"}
    assert config_files(runner)[".runner"]["agentId"] == 3
    shouting = {".runner": {k.upper(): v for k, v in jit[".runner"].items()}}
    for documents in (jit, config_files(runner), {**jit, **shouting}):
        read = parse_files(documents)
        assert read.key.private_numbers() == key.private_numbers()
        assert read == RunnerFiles(**{**_fields(runner), "key": read.key})
    with pytest.raises(ValueError, match="agentid"):
        parse_files({**jit, ".runner": {"AgentName": "r"}})
    with pytest.raises(ValueError, match="three"):
        parse_files({**jit, ".runner": {**jit[".runner"], "AgentId": "three"}})


def test_runner_files_are_spelled_in_runner_config_only() -> None:
    src = Path(__file__).resolve().parents[1] / "src" / "runnerhub"
    for module in src.rglob("*.py"):
        if module.name != "runner_config.py":
            text = module.read_text()
            for key in ('"AgentId"', '"agentId"', '"Scheme"', '"scheme"', '"authorizationUrl"'):
                assert key not in text, f"{module} spells {key}"
    # The agent and the shared formats import nothing from the server side.
    for module in [*(src / "agent").glob("*.py"), src / "runner_config.py"]:
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                shared = name in ("runnerhub", "runnerhub.runner_config", "runnerhub.expressions")
                assert (
                    not name.startswith("runnerhub") or shared or name.startswith("runnerhub.agent")
                ), f"{module} imports {name}"


def _fields(runner: RunnerFiles) -> dict[str, object]:
    return {name: getattr(runner, name) for name in RunnerFiles.__slots__}


def test_a_second_session_is_refused(live: ServerProcess, world: World, tmp_path: Path) -> None:
    fleet = Fleet(live, world, "org")
    fleet.config(tmp_path, "single")
    running = start_agent(tmp_path)
    wait_for(lambda: fleet.status("single") == "online", 20, "online")
    token = access_token(tmp_path)
    second = httpx.post(
        f"{live.url}/_apis/runner/sessions", headers={"Authorization": f"Bearer {token}"}
    )
    assert second.status_code == 409
    assert second.json()["message"] == "A session for this runner already exists."
    running.stop()


def test_fifty_agents_at_once(live: ServerProcess, world: World, tmp_path: Path) -> None:
    fleet = Fleet(live, world, "org")
    token = fleet.registration_token()
    names = [f"fleet-{i:02d}" for i in range(50)]

    def config(name: str) -> int:
        return configure(tmp_path / name, fleet.url, token, "--name", name, timeout=120).returncode

    with ThreadPoolExecutor(max_workers=10) as pool:
        assert list(pool.map(config, names)) == [0] * 50
    running = [start_agent(tmp_path / name) for name in names]
    try:

        def all_online() -> bool:
            return sum(r["status"] == "online" for r in fleet.runners().values()) == 50

        wait_for(all_online, 90, "50 runners online")
    finally:
        for each in running:
            each.process.send_signal(signal.SIGTERM)
        for each in running:
            each.process.wait(timeout=30)
    assert all(r["status"] == "offline" for r in fleet.runners().values())


def test_closing_a_session_answers_its_pending_poll_at_once(
    db: Database, database_url: str, workdir: Path, world: World, tmp_path: Path
) -> None:
    # A long window: the poll would otherwise be held for 15 s.
    server = start_server(database_url, workdir, offline_after_seconds="30")
    try:
        fleet = Fleet(server, world, "org")
        fleet.config(tmp_path, "waiting")
        bearer = {"Authorization": f"Bearer {access_token(tmp_path)}"}
        session = httpx.post(f"{server.url}/_apis/runner/sessions", headers=bearer).json()
        messages = f"{server.url}/_apis/runner/messages?sessionId={session['sessionId']}"
        with ThreadPoolExecutor(max_workers=1) as pool:
            started = time.monotonic()
            poll = pool.submit(httpx.get, messages, headers=bearer, timeout=30)
            time.sleep(1)
            closed = httpx.delete(
                f"{server.url}/_apis/runner/sessions/{session['sessionId']}", headers=bearer
            )
            assert closed.status_code == 204
            assert poll.result().status_code == 202
            assert time.monotonic() - started < 5
        assert fleet.status("waiting") == "offline"
    finally:
        server.stop()
