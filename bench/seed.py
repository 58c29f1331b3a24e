"""Seed benchmark data quickly through the storage layer's tables (bulk inserts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from runnerhub.domain import accounts
from runnerhub.storage.database import Database
from runnerhub.storage.tables import labels, runner_groups, runner_labels, runners
from runnerhub.storage.unit_of_work import UnitOfWork

LABELS = ("self-hosted", "Linux", "X64", "bench")


def seed_org(db: Database, login: str, count: int) -> str:
    """An organization `login` with `count` runners of 4 labels each; returns an admin token."""
    now = datetime.now(UTC)
    admin = f"{login}-admin"

    def setup(uow: UnitOfWork) -> str:
        accounts.create_user(uow, admin, now)
        accounts.create_org(uow, login, admin, now)
        request = accounts.TokenRequest(login=admin, scopes=("admin:org", "repo"))
        return accounts.create_token(uow, request, now)

    token = db.transact(setup)
    db.write(lambda conn: _bulk_runners(conn, login, count, now))
    return token


def seed_group(db: Database, login: str, count: int) -> tuple[str, int]:
    """An organization with `count` runners, all in one runner group of its own besides
    `Default`; returns an admin token and the group's id."""
    from runnerhub.storage import accounts as account_rows
    from runnerhub.storage import runner_groups as group_rows

    token = seed_org(db, login, count)

    def group(conn: Any) -> int:
        scope = account_rows.organization_scope(conn, login)
        assert scope is not None
        row = group_rows.insert(
            conn, scope.id, name="bench", visibility="all", allows_public_repositories=False,
            restricted_to_workflows=False, selected_workflows=(),
        )  # fmt: skip
        assert row is not None
        conn.execute(update(runners).where(runners.c.scope_id == scope.id).values(group_id=row.id))
        return row.number

    return token, db.write(group)


def _bulk_runners(conn: object, login: str, count: int, now: datetime) -> None:
    from runnerhub.storage import accounts as account_rows

    scope = account_rows.organization_scope(conn, login)  # type: ignore[arg-type]
    assert scope is not None
    execute = conn.execute  # type: ignore[attr-defined]
    group = execute(select(runner_groups.c.id).where(runner_groups.c.scope_id == scope.id)).scalar()
    label_rows = [{"scope_id": scope.id, "name": n, "name_lower": n.lower()} for n in LABELS]
    execute(labels.insert(), label_rows)
    label_ids = list(execute(select(labels.c.id).where(labels.c.scope_id == scope.id)).scalars())
    for start in range(0, count, 5000):
        batch = range(start, min(start + 5000, count))
        execute(
            runners.insert(),
            [
                {
                    "scope_id": scope.id,
                    "group_id": group,
                    "name": f"{login}-r{i}",
                    "name_lower": f"{login}-r{i}",
                    "os": "linux",
                    "ephemeral": False,
                    "work_folder": "_work",
                    "created_at": now,
                }
                for i in batch
            ],
        )
    # Ids come from the database (an explicit id would not advance PostgreSQL's sequence).
    ids = execute(select(runners.c.id).where(runners.c.scope_id == scope.id)).scalars().all()
    for start in range(0, len(ids), 5000):
        execute(
            runner_labels.insert(),
            [
                {
                    "runner_id": runner_id,
                    "label_id": label_id,
                    "type": "custom" if n == 3 else "read-only",
                }
                for runner_id in ids[start : start + 5000]
                for n, label_id in enumerate(label_ids)
            ],
        )
