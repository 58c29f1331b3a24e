"""a runner count per scope, kept by triggers

Counting a large fleet on every list request cost more than the rest of the request (at
100 000 runners, SQLite's count(*) dominated both the first and the last page). Triggers keep
the count exact whoever inserts or deletes runners: the API, the sweeper, or an operator.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER runners_counted_on_insert AFTER INSERT ON runners BEGIN
        UPDATE scopes SET runner_count = runner_count + 1 WHERE id = NEW.scope_id;
    END""",
    """CREATE TRIGGER runners_counted_on_delete AFTER DELETE ON runners BEGIN
        UPDATE scopes SET runner_count = runner_count - 1 WHERE id = OLD.scope_id;
    END""",
)
POSTGRESQL_TRIGGERS = (
    """CREATE FUNCTION count_runners() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE scopes SET runner_count = runner_count + 1 WHERE id = NEW.scope_id;
            RETURN NEW;
        END IF;
        UPDATE scopes SET runner_count = runner_count - 1 WHERE id = OLD.scope_id;
        RETURN OLD;
    END $$""",
    """CREATE TRIGGER runners_counted AFTER INSERT OR DELETE ON runners
        FOR EACH ROW EXECUTE FUNCTION count_runners()""",
)


def upgrade() -> None:
    with op.batch_alter_table("scopes") as batch:
        batch.add_column(
            sa.Column("runner_count", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE scopes SET runner_count = "
        "(SELECT count(*) FROM runners WHERE runners.scope_id = scopes.id)"
    )
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRESQL_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER runners_counted_on_insert")
        op.execute("DROP TRIGGER runners_counted_on_delete")
    else:
        op.execute("DROP TRIGGER runners_counted ON runners")
        op.execute("DROP FUNCTION count_runners()")
    with op.batch_alter_table("scopes") as batch:
        batch.drop_column("runner_count")
