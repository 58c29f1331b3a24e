"""`runnerhub`: serve, migrate, and administer users, organizations and tokens."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from runnerhub.cli.durations import parse_duration
from runnerhub.domain import accounts
from runnerhub.errors import UserError
from runnerhub.settings import Settings
from runnerhub.storage import migrate
from runnerhub.storage.database import Database


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        result: int = args.run(args)
        return result
    except UserError as error:
        print(f"runnerhub: {error}", file=sys.stderr)
        return 1
    except OperationalError as error:
        print(f"runnerhub: database error: {error.orig}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runnerhub", description=__doc__)
    commands = parser.add_subparsers(metavar="COMMAND")

    serve = commands.add_parser("serve", help="apply pending migrations and serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=run_serve)

    db = commands.add_parser("db", help="database schema").add_subparsers(metavar="ACTION")
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(run=run_upgrade)

    admin = commands.add_parser("admin", help="users, organizations, repositories, tokens")
    _admin_commands(admin.add_subparsers(metavar="ACTION"))
    return parser


def _admin_commands(admin: Any) -> None:
    user = admin.add_parser("create-user", help="create a user")
    user.add_argument("login")
    user.add_argument("--site-admin", action="store_true")
    user.set_defaults(run=_transaction(_create_user))

    enterprise = admin.add_parser("create-enterprise", help="create an enterprise")
    enterprise.add_argument("slug")
    enterprise.add_argument("--owner", required=True)
    enterprise.set_defaults(run=_transaction(_create_enterprise))

    org = admin.add_parser("create-org", help="create an organization")
    org.add_argument("login")
    org.add_argument("--admin", required=True)
    org.add_argument("--enterprise")
    org.set_defaults(run=_transaction(_create_org))

    member = admin.add_parser("add-org-member", help="add a user to an organization")
    member.add_argument("org")
    member.add_argument("login")
    member.add_argument("--role", choices=("admin", "member"), default="member")
    member.set_defaults(run=_transaction(_add_org_member))

    repo = admin.add_parser("create-repo", help="create a repository")
    repo.add_argument("full_name", metavar="OWNER/NAME")
    repo.add_argument("--admin")
    repo.add_argument("--private", action="store_true")
    repo.add_argument(
        "--collaborator",
        action="append",
        default=[],
        metavar="LOGIN=admin|write|read",
        help="grant a user access (repeatable)",
    )
    repo.set_defaults(run=_transaction(_create_repo))

    token = admin.add_parser("create-token", help="mint a personal access token")
    token.add_argument("login")
    token.add_argument("--scopes", help="classic token scopes, e.g. repo,admin:org")
    token.add_argument("--permissions", help="fine-grained, e.g. administration=write")
    token.add_argument("--org", help="fine-grained: the organization it reaches")
    token.add_argument("--repo", action="append", default=[], help="fine-grained: OWNER/NAME")
    token.add_argument("--expires-in", help="e.g. 30d, 12h (default: never)")
    token.set_defaults(run=_transaction(_create_token))


def _database() -> Database:
    return Database(Settings().resolved_database_url())


def run_upgrade(args: argparse.Namespace) -> int:
    db = _database()
    migrate.upgrade(db)
    db.dispose()
    print("runnerhub: database is up to date", file=sys.stderr)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from runnerhub.app import create_app

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("runnerhub").setLevel(logging.INFO)
    settings = Settings()
    db = Database(settings.resolved_database_url())
    migrate.upgrade(db)
    app = create_app(settings, db)
    tune_garbage_collector()
    print(f"runnerhub: serving http://{args.host}:{args.port}", file=sys.stderr)
    # Long polls must not hold a shutdown up: agents reconnect by themselves.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    db.dispose()
    return 0


def tune_garbage_collector() -> None:
    """Every request allocates thousands of short-lived objects. Keep the long-lived startup
    heap out of collections, and collect the young generation less often: fewer, shorter
    pauses in the latency tail."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def _transaction(
    command: Callable[[Connection, argparse.Namespace, datetime], str | None],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        db = _database()
        if not migrate.is_current(db):
            raise UserError("the database has no schema yet: run `runnerhub db upgrade` first")
        try:
            output = db.write(lambda conn: command(conn, args, datetime.now(UTC)))
        finally:
            db.dispose()
        if output:
            print(output)
        return 0

    return run


def _create_user(conn: Connection, args: argparse.Namespace, now: datetime) -> None:
    accounts.create_user(conn, args.login, now, site_admin=args.site_admin)
    print(f"runnerhub: created user {args.login}", file=sys.stderr)


def _create_enterprise(conn: Connection, args: argparse.Namespace, now: datetime) -> None:
    accounts.create_enterprise(conn, args.slug, args.owner, now)
    print(f"runnerhub: created enterprise {args.slug}", file=sys.stderr)


def _create_org(conn: Connection, args: argparse.Namespace, now: datetime) -> None:
    accounts.create_org(conn, args.login, args.admin, now, enterprise=args.enterprise)
    print(f"runnerhub: created organization {args.login}", file=sys.stderr)


def _add_org_member(conn: Connection, args: argparse.Namespace, now: datetime) -> None:
    accounts.add_org_member(conn, args.org, args.login, args.role)
    print(f"runnerhub: {args.login} is now {args.role} of {args.org}", file=sys.stderr)


def _create_repo(conn: Connection, args: argparse.Namespace, now: datetime) -> None:
    collaborators = tuple(_pair(item, "--collaborator") for item in args.collaborator)
    accounts.create_repo(
        conn,
        args.full_name,
        now,
        admin=args.admin,
        private=args.private,
        collaborators=collaborators,
    )
    print(f"runnerhub: created repository {args.full_name}", file=sys.stderr)


def _create_token(conn: Connection, args: argparse.Namespace, now: datetime) -> str:
    if bool(args.scopes) == bool(args.permissions):
        raise UserError("give either --scopes (classic) or --permissions (fine-grained)")
    expires_at = now + parse_duration(args.expires_in) if args.expires_in else None
    scopes = tuple(s.strip() for s in (args.scopes or "").split(",") if s.strip())
    permissions = tuple(
        _pair(p, "--permissions") for p in (args.permissions or "").split(",") if p.strip()
    )
    request = accounts.TokenRequest(
        login=args.login,
        scopes=scopes,
        permissions=permissions,
        org=args.org,
        repos=tuple(args.repo),
        expires_at=expires_at,
    )
    return accounts.create_token(conn, request, now)


def _pair(text: str, option: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise UserError(f"{option} takes NAME=VALUE, not {text!r}")
    return name.strip(), value.strip()


if __name__ == "__main__":
    sys.exit(main())
