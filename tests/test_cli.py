"""The command line: admin commands on a real database, one-line errors, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text

from runnerhub.domain.accounts import CLASSIC_SCOPES, FINE_GRAINED_PERMISSIONS
from runnerhub.storage import migrate
from runnerhub.storage.database import Database
from tests.factories import World, unique
from tests.helpers import auth
from tests.server import ServerProcess

COLUMNS = ["ID", "KIND", "PREFIX", "CREATED", "EXPIRES", "SCOPES/PERMISSIONS", "NOTE"]


def runnerhub(
    database_url: str | None, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNERHUB_")}
    if database_url is not None:
        env["RUNNERHUB_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "runnerhub.cli.main", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def error_of(result: subprocess.CompletedProcess[str]) -> str:
    """The one-line error after the line naming the database."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("runnerhub: database "), result.stderr
    assert lines[1].startswith("runnerhub: "), result.stderr
    return lines[1]


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
        ("create-token", login, "--scopes", "repo", "--note", "two\nlines"),
        ("create-token", login, "--permissions", "administration=write"),
        ("create-token", login, "--permissions", "administration=admin", "--org", "x"),
        ("add-org-member", "no-such-org", login),
        ("list-tokens", "nobody-here"),
        ("revoke-token", "999999999"),
    ):
        error_of(runnerhub(database_url, "admin", *args))


def test_valid_scopes_and_permissions_are_listed(database_url: str, world: World) -> None:
    helped = runnerhub(database_url, "admin", "create-token", "--help")
    assert helped.returncode == 0
    for name in (*CLASSIC_SCOPES, *FINE_GRAINED_PERMISSIONS):
        assert name in helped.stdout, name
    login = world.user()
    org = world.org(login)
    bad_scope = error_of(runnerhub(database_url, "admin", "create-token", login, "--scopes", "x"))
    assert all(name in bad_scope for name in CLASSIC_SCOPES), bad_scope
    bad_permission = error_of(
        runnerhub(
            database_url, "admin", "create-token", login, "--permissions", "x=read", "--org", org
        )
    )
    assert all(name in bad_permission for name in FINE_GRAINED_PERMISSIONS), bad_permission


def test_tokens_are_listed_by_prefix_and_revoked_at_once(
    database_url: str, server: ServerProcess, world: World
) -> None:
    login = world.user()
    org = world.org(login)
    classic = runnerhub(
        database_url, "admin", "create-token", login, "--scopes", "admin:org", "--note", "ci bot"
    ).stdout.strip()
    fine = runnerhub(
        database_url,
        "admin",
        "create-token",
        login,
        "--permissions",
        "organization_self_hosted_runners=write",
        "--org",
        org,
        "--expires-in",
        "30d",
    ).stdout.strip()
    listed = runnerhub(database_url, "admin", "list-tokens", login)
    assert listed.returncode == 0, listed.stderr
    assert classic not in listed.stdout
    assert fine not in listed.stdout
    header, first, second = listed.stdout.splitlines()
    assert header.split() == COLUMNS
    classic_id, kind, prefix, created, expires, grants, *note = first.split()
    assert (kind, prefix, expires, grants) == ("classic", classic[:8] + "...", "never", "admin:org")
    assert note == ["ci", "bot"]
    assert created.startswith(str(datetime.now(UTC).year))
    fine_id, kind, prefix, _, expires, grants = second.split()
    assert (kind, prefix) == ("fine_grained", fine[:15] + "...")
    assert grants == "organization_self_hosted_runners=write"
    assert expires != "never"

    runners = f"{server.url}/orgs/{org}/actions/runners"
    assert httpx.get(runners, headers=auth(classic)).status_code == 200
    revoked = runnerhub(database_url, "admin", "revoke-token", classic_id)
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked {login}'s classic token {classic_id}" in revoked.stderr
    response = httpx.get(runners, headers=auth(classic))
    assert response.status_code == 401
    assert response.json()["message"] == "Bad credentials"
    assert httpx.get(runners, headers=auth(fine)).status_code == 200
    remaining = runnerhub(database_url, "admin", "list-tokens", login).stdout.splitlines()
    assert [line.split()[0] for line in remaining[1:]] == [fine_id]


def test_every_command_names_its_database(tmp_path: Path) -> None:
    """Run from a directory without a database, an admin command says it made one there,
    and builds its schema as `serve` would."""
    made = runnerhub(None, "admin", "create-user", "someone", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    where = f"sqlite:///{(tmp_path / 'runnerhub.db').resolve()}"
    lines = made.stderr.splitlines()
    assert lines[0] == f"runnerhub: database {where} (new file)"
    assert lines[1].startswith("runnerhub: schema migrated from empty to ")
    again = runnerhub(None, "admin", "create-user", "someone", cwd=tmp_path)
    assert error_of(again) == "runnerhub: login 'someone' is already taken"
    assert again.stderr.splitlines()[0] == f"runnerhub: database {where}"
    upgraded = runnerhub(None, "db", "upgrade", cwd=tmp_path)
    assert upgraded.stderr.splitlines()[0] == f"runnerhub: database {where}"


def test_a_database_password_is_never_shown(tmp_path: Path) -> None:
    url = "postgresql://admin:hunter2@127.0.0.1:1/runnerhub"
    for args in (("db", "upgrade"), ("admin", "create-user", "x")):
        result = runnerhub(url, *args)
        assert result.returncode == 1
        assert "hunter2" not in result.stderr
        first = result.stderr.splitlines()[0]
        assert first == "runnerhub: database postgresql+psycopg://admin:***@127.0.0.1:1/runnerhub"


def test_admin_commands_migrate_an_old_database(tmp_path: Path) -> None:
    """A database left at 0004 (tokens without prefixes) is migrated by the first admin
    command; its old tokens list with no prefix."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database(url)
    migrate.upgrade(old, "0004")
    old.write(lambda conn: _old_token(conn))
    old.dispose()
    listed = runnerhub(url, "admin", "list-tokens", "veteran")
    assert listed.returncode == 0, listed.stderr
    assert "runnerhub: schema migrated from 0004 to " in listed.stderr
    row = listed.stdout.splitlines()[1].split()
    assert row[1:3] == ["classic", "-"]
    assert row[5] == "repo"


def _old_token(conn: object) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    conn.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO accounts (login, login_lower, type, site_admin, created_at) "
            "VALUES ('veteran', 'veteran', 'User', false, :now)"
        ),
        {"now": now},
    )
    conn.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO api_tokens (user_id, token_hash, kind, scopes, permissions, created_at) "
            "VALUES (1, :hash, 'classic', 'repo', '', :now)"
        ),
        {"hash": "0" * 64, "now": now},
    )


def test_put_workflow_commits_a_file_and_starts_its_push_run(
    database_url: str, server: ServerProcess, world: World, tmp_path: Path
) -> None:
    admin = world.user()
    repo = world.repo(admin)
    token = world.token(admin, scopes=["repo"])
    source = tmp_path / "build.yaml"
    source.write_text(
        "name: Build\non: push\njobs:\n  b:\n    runs-on: self-hosted\n    steps:\n"
        "      - run: make\n"
    )
    done = runnerhub(database_url, "admin", "put-workflow", repo, str(source), "--as", "b.yml")
    assert done.returncode == 0, done.stderr
    sha = done.stdout.strip()
    assert len(sha) == 40
    assert "created .github/workflows/b.yml" in done.stderr
    runs = httpx.get(f"{server.url}/repos/{repo}/actions/runs", headers=auth(token)).json()
    assert [(r["head_sha"], r["path"]) for r in runs["workflow_runs"]] == [
        (sha, ".github/workflows/b.yml")
    ]
    again = runnerhub(database_url, "admin", "put-workflow", repo, str(source), "--as", "b.yml")
    assert again.returncode == 0
    assert "updated" in again.stderr
    source.write_text("on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n      - uses: a/b@v1\n")
    refused = runnerhub(database_url, "admin", "put-workflow", repo, str(source))
    assert refused.returncode == 1
    assert "uses an action" in refused.stderr
    assert "Traceback" not in refused.stderr
    missing = runnerhub(database_url, "admin", "put-workflow", "nobody/none", str(source))
    assert missing.returncode == 1
    assert "no repository" in missing.stderr
