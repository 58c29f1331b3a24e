"""ids are never reused, and runner group numbers are 64-bit

SQLite hands a deleted row's id to the next row when the deleted row was the newest, unless
the table is AUTOINCREMENT. Autoscalers track runners by id, so a reused id can delete the
wrong machine: every table with an id is rebuilt AUTOINCREMENT on SQLite (PostgreSQL's
sequences never go back). Runner group numbers (the API's runner_group_id) become 64-bit,
like every other id.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = (
    "scopes", "enterprises", "accounts", "repositories", "api_tokens", "runner_groups",
    "runners", "labels", "runner_tokens", "jobs",
)  # fmt: skip

# Migration 0003's count triggers name `scopes`, which SQLite refuses to rename under them:
# they are dropped for the rebuild and made again after it.
RUNNER_COUNT_TRIGGERS = (
    """CREATE TRIGGER runners_counted_on_insert AFTER INSERT ON runners BEGIN
        UPDATE scopes SET runner_count = runner_count + 1 WHERE id = NEW.scope_id;
    END""",
    """CREATE TRIGGER runners_counted_on_delete AFTER DELETE ON runners BEGIN
        UPDATE scopes SET runner_count = runner_count - 1 WHERE id = OLD.scope_id;
    END""",
)


def _group_number(type_: sa.types.TypeEngine[int], existing: sa.types.TypeEngine[int]) -> None:
    with op.batch_alter_table("runner_groups") as batch:
        batch.alter_column("number", type_=type_, existing_type=existing, existing_nullable=False)


def _rebuild(*, autoincrement: bool, number: sa.types.TypeEngine[int]) -> None:
    # env.py runs SQLite migrations with foreign keys off, so that rebuilding a table does
    # not cascade into the rows that point at it.
    op.execute("DROP TRIGGER runners_counted_on_insert")
    op.execute("DROP TRIGGER runners_counted_on_delete")
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ) as batch:
            if table == "runner_groups":
                batch.alter_column("number", type_=number, existing_nullable=False)
    for statement in RUNNER_COUNT_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(autoincrement=True, number=sa.BigInteger())
    else:
        _group_number(sa.BigInteger(), sa.Integer())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(autoincrement=False, number=sa.Integer())
    else:
        _group_number(sa.Integer(), sa.BigInteger())
