"""The command line: admin commands on a real database, one-line errors, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.factories import unique
from tests.helpers import auth
from tests.server import ServerProcess


def runnerhub(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNNERHUB_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "runnerhub.cli.main", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_admin_commands_build_a_working_setup(
    database_url: str, server: ServerProcess, db: object
) -> None:
    login, org = unique("cli-user"), unique("cli-org")
    ent = unique("cli-ent")
    for args in (
        ("create-user", login),
        ("create-enterprise", ent, "--owner", login),
        ("create-org", org, "--admin", login, "--enterprise", ent),
        ("create-repo", f"{org}/app", "--private"),
        ("add-org-member", org, login, "--role", "admin"),
    ):
        result = runnerhub(database_url, "admin", *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
    made = runnerhub(
        database_url, "admin", "create-token", login, "--scopes", "admin:org", "--expires-in", "7d"
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("ghp_")
    assert made.stdout == token + "\n"
    response = httpx.get(f"{server.url}/orgs/{org}/actions/runners", headers=auth(token))
    assert response.status_code == 200

    fine = runnerhub(
        database_url,
        "admin",
        "create-token",
        login,
        "--permissions",
        "administration=write",
        "--repo",
        f"{org}/app",
    )
    assert fine.returncode == 0, fine.stderr
    response = httpx.get(
        f"{server.url}/repos/{org}/app/actions/runners", headers=auth(fine.stdout.strip())
    )
    assert response.status_code == 200


def test_user_mistakes_are_one_line_errors(database_url: str, db: object) -> None:
    login = unique("cli-dup")
    assert runnerhub(database_url, "admin", "create-user", login).returncode == 0
    for args in (
        ("create-user", login),
        ("create-user", "bad name!"),
        ("create-org", unique("o"), "--admin", "nobody-here"),
        ("create-repo", "nobody-here/x"),
        ("create-repo", "no-slash"),
        ("create-token", "nobody-here", "--scopes", "repo"),
        ("create-token", login, "--scopes", "not-a-scope"),
        ("create-token", login, "--scopes", "repo", "--expires-in", "soon"),
        ("create-token", login, "--permissions", "administration=write"),
        ("add-org-member", "no-such-org", login),
    ):
        result = runnerhub(database_url, "admin", *args)
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("runnerhub: ")


def test_commands_on_a_database_without_schema_say_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runnerhub(url, "admin", "create-user", "someone")
    assert result.returncode == 1
    assert "runnerhub db upgrade" in result.stderr
    assert runnerhub(url, "db", "upgrade").returncode == 0
    assert runnerhub(url, "admin", "create-user", "someone").returncode == 0
