"""on PostgreSQL, count runners when the transaction commits

The count trigger of 0003 locked the scope's row from a runner's INSERT to the end of its
transaction, so concurrent JIT configs and registrations in one scope queued behind each
other for the whole of every transaction (88 JIT configs/s with 32 clients). Deferred to
commit, the row stays locked only while the transaction commits. SQLite serializes writers
anyway, so its triggers stay as they are.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _count_runners(*, at_commit: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    kind, timing = (
        ("CONSTRAINT TRIGGER", "DEFERRABLE INITIALLY DEFERRED") if at_commit else ("TRIGGER", "")
    )
    op.execute("DROP TRIGGER runners_counted ON runners")
    op.execute(
        f"CREATE {kind} runners_counted AFTER INSERT OR DELETE ON runners {timing} "
        "FOR EACH ROW EXECUTE FUNCTION count_runners()"
    )


def upgrade() -> None:
    _count_runners(at_commit=True)


def downgrade() -> None:
    _count_runners(at_commit=False)
