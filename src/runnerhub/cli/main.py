"""`runnerhub`: serve, migrate, and administer users, organizations and tokens."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from runnerhub import log_format, tls
from runnerhub.cli.durations import parse_duration
from runnerhub.coordination import wakeups
from runnerhub.domain import accounts, contents
from runnerhub.errors import UserError
from runnerhub.settings import Settings
from runnerhub.storage import migrate
from runnerhub.storage.database import Database
from runnerhub.storage.unit_of_work import UnitOfWork


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
    except ArgumentError as error:
        print(f"runnerhub: invalid database URL: {error}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runnerhub", description=__doc__)
    commands = parser.add_subparsers(metavar="COMMAND")

    serve = commands.add_parser("serve", help="apply pending migrations and serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--certfile", type=Path, help="TLS: the server's certificate (PEM)")
    serve.add_argument("--keyfile", type=Path, help="TLS: its private key (PEM)")
    serve.add_argument(
        "--tls-self-signed",
        action="store_true",
        help="TLS with a certificate made for the names served, under a CA kept in the "
        "data directory (tls/ca.pem: the file clients trust)",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log lines on standard error: text (default) or JSON lines "
        "(RUNNERHUB_LOG_FORMAT)",
    )
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
    token.add_argument(
        "--scopes",
        metavar="SCOPE,...",
        help=f"classic token; each SCOPE one of: {accounts.scope_names()}",
    )
    token.add_argument(
        "--permissions",
        metavar="NAME=read|write,...",
        help=f"fine-grained token; each NAME one of: {accounts.permission_names()}",
    )
    token.add_argument("--org", help="fine-grained: the organization it reaches")
    token.add_argument("--repo", action="append", default=[], help="fine-grained: OWNER/NAME")
    token.add_argument("--expires-in", help="e.g. 30d, 12h (default: never)")
    token.add_argument("--note", help="what the token is for, shown by list-tokens")
    token.set_defaults(run=_transaction(_create_token))

    listing = admin.add_parser("list-tokens", help="a user's tokens (prefixes, never tokens)")
    listing.add_argument("login")
    listing.set_defaults(run=_transaction(_list_tokens))

    workflow = admin.add_parser(
        "put-workflow", help="store a workflow file in a repository (a commit: push runs start)"
    )
    workflow.add_argument("full_name", metavar="OWNER/REPO")
    workflow.add_argument("file", type=Path, metavar="FILE", help="a workflow YAML file")
    workflow.add_argument(
        "--as", dest="name", metavar="NAME.yml", help="its name in .github/workflows"
    )
    workflow.set_defaults(run=_transaction(_put_workflow))

    revoke = admin.add_parser("revoke-token", help="delete a token: it stops working at once")
    revoke.add_argument("token_id", type=int, metavar="ID", help="as list-tokens shows it")
    revoke.set_defaults(run=_transaction(_revoke_token))


Say = Callable[[str], None]


def _say(message: str) -> None:
    print(f"runnerhub: {message}", file=sys.stderr)


def _open_database(settings: Settings, say: Say = _say) -> Database:
    """Say which database, so that a command run from the wrong directory (a new SQLite file
    there) or with the wrong URL shows it at once. Passwords are masked."""
    raw = settings.resolved_database_url()
    url = make_url(raw)
    new = url.get_backend_name() == "sqlite" and not Path(url.database or "").exists()
    shown = url.render_as_string(hide_password=True)
    say(f"database {shown}{' (new file)' if new else ''}")
    return Database(raw)


def _upgrade(db: Database, say: Say = _say) -> None:
    """Apply pending migrations, and say so when there were any."""
    applied = migrate.upgrade(db)
    if applied:
        say(f"schema migrated from {applied[0][0] or 'empty'} to {applied[-1][1]}")


def run_upgrade(args: argparse.Namespace) -> int:
    db = _open_database(Settings())
    try:
        _upgrade(db)
    finally:
        db.dispose()
    print("runnerhub: database is up to date", file=sys.stderr)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from runnerhub import serving
    from runnerhub.app import create_app

    settings = Settings()
    if args.log_format:
        settings = settings.model_copy(update={"log_format": args.log_format})
    log_format.configure(settings.log_format, access_log=settings.access_log)
    # JSON lines from the first line on when asked for them; plain lines otherwise.
    say = logging.getLogger("runnerhub.serve").info if settings.log_format == "json" else _say
    serving.trusted_proxies(settings.trusted_proxies)  # refuse a bad list before migrating
    scheme = "https" if args.tls_self_signed or args.certfile or args.keyfile else "http"
    url = serving.public_url(settings.public_url, args.host, args.port, scheme, warn=say)
    settings = settings.model_copy(update={"public_url": url})
    tls = _certificate(args, settings, say)
    db = _open_database(settings, say)
    _upgrade(db, say)
    app = create_app(settings, db)
    serving.tune_garbage_collector()
    say(f"serving on {args.host}:{args.port} as {url}")
    serving.serve(app, settings, args.host, args.port, tls)
    db.dispose()
    return 0


def _certificate(args: argparse.Namespace, settings: Settings, say: Say) -> tls.Certificate | None:
    """The operator's certificate, or one made for the names served (and how to trust it)."""
    given = tls.operator_certificate(args.certfile, args.keyfile)
    if not args.tls_self_signed:
        return given
    if given is not None:
        raise UserError("--tls-self-signed or --certfile/--keyfile, not both")
    names = tls.served_names(args.host, urlsplit(settings.public_url).hostname)
    made = tls.self_signed(settings.data_dir / "tls", names, datetime.now(UTC))
    say(
        f"TLS certificate for {', '.join(names)}; clients trust it with "
        f"SSL_CERT_FILE={made.ca_file and made.ca_file.resolve()} "
        "(curl --cacert FILE, NODE_EXTRA_CA_CERTS=FILE for Node)"
    )
    return made


def _transaction(
    command: Callable[[UnitOfWork, argparse.Namespace, datetime], str | None],
) -> Callable[[argparse.Namespace], int]:
    """Admin commands: migrate the schema as `serve` would, then run in one transaction."""

    def run(args: argparse.Namespace) -> int:
        db = _open_database(Settings())
        if not db.is_sqlite:  # what the command changes wakes agents polling any instance
            db.pre_commit.append(wakeups.announcer("cli"))
        try:
            _upgrade(db)
            output = db.transact(lambda uow: command(uow, args, datetime.now(UTC)))
        finally:
            db.dispose()
        if output:
            print(output)
        return 0

    return run


def _put_workflow(uow: UnitOfWork, args: argparse.Namespace, now: datetime) -> str:
    try:
        content = args.file.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read {args.file}: {error.strerror}") from None
    settings = Settings()
    web = settings.public_url or "http://127.0.0.1:8000"
    window = timedelta(seconds=settings.offline_after_seconds)
    name = args.name or args.file.name
    commit, created = contents.put_by_operator(
        uow, args.full_name, name, content, (web, web), window, now
    )
    verb = "created" if created else "updated"
    print(f"runnerhub: {verb} .github/workflows/{name} in {args.full_name}", file=sys.stderr)
    return commit.sha


def _create_user(uow: UnitOfWork, args: argparse.Namespace, now: datetime) -> None:
    accounts.create_user(uow, args.login, now, site_admin=args.site_admin)
    print(f"runnerhub: created user {args.login}", file=sys.stderr)


def _create_enterprise(uow: UnitOfWork, args: argparse.Namespace, now: datetime) -> None:
    accounts.create_enterprise(uow, args.slug, args.owner, now)
    print(f"runnerhub: created enterprise {args.slug}", file=sys.stderr)


def _create_org(uow: UnitOfWork, args: argparse.Namespace, now: datetime) -> None:
    accounts.create_org(uow, args.login, args.admin, now, enterprise=args.enterprise)
    print(f"runnerhub: created organization {args.login}", file=sys.stderr)


def _add_org_member(uow: UnitOfWork, args: argparse.Namespace, now: datetime) -> None:
    accounts.add_org_member(uow, args.org, args.login, args.role)
    print(f"runnerhub: {args.login} is now {args.role} of {args.org}", file=sys.stderr)


def _create_repo(uow: UnitOfWork, args: argparse.Namespace, now: datetime) -> None:
    collaborators = tuple(_pair(item, "--collaborator") for item in args.collaborator)
    accounts.create_repo(
        uow,
        args.full_name,
        now,
        admin=args.admin,
        private=args.private,
        collaborators=collaborators,
    )
    print(f"runnerhub: created repository {args.full_name}", file=sys.stderr)


def _create_token(uow: UnitOfWork, args: argparse.Namespace, now: datetime) -> str:
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
        note=args.note,
    )
    return accounts.create_token(uow, request, now)


def _list_tokens(uow: UnitOfWork, args: argparse.Namespace, now: datetime) -> str | None:
    found = accounts.list_tokens(uow, args.login)
    if not found:
        print(f"runnerhub: {args.login} has no tokens", file=sys.stderr)
        return None
    header = ("ID", "KIND", "PREFIX", "CREATED", "EXPIRES", "SCOPES/PERMISSIONS", "NOTE")
    rows = [
        (
            str(t.id),
            t.kind,
            _prefix(t),
            _when(t.created_at),
            _when(t.expires_at) if t.expires_at else "never",
            t.grants or "-",
            t.note or "",
        )
        for t in found
    ]
    return _table(header, rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, as `ps` prints them."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _revoke_token(uow: UnitOfWork, args: argparse.Namespace, now: datetime) -> None:
    t = accounts.revoke_token(uow, args.token_id)
    print(f"runnerhub: revoked {t.login}'s {t.kind} token {t.id} ({_prefix(t)})", file=sys.stderr)


def _prefix(token: accounts.TokenInfo) -> str:
    return f"{token.prefix}..." if token.prefix else "-"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pair(text: str, option: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise UserError(f"{option} takes NAME=VALUE, not {text!r}")
    return name.strip(), value.strip()


if __name__ == "__main__":
    sys.exit(main())
