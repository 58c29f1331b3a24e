"""runner sessions and access tokens

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("runners") as batch:
        batch.add_column(sa.Column("session_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("session_started_at", sa.DateTime(), nullable=True))
        batch.create_unique_constraint(op.f("uq_runners_session_id"), ["session_id"])
    op.create_table(
        "runner_access_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("runner_id", Id, nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["runner_id"],
            ["runners.id"],
            name=op.f("fk_runner_access_tokens_runner_id_runners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_runner_access_tokens")),
    )
    op.create_index(
        op.f("ix_runner_access_tokens_runner_id"), "runner_access_tokens", ["runner_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_runner_access_tokens_runner_id"), table_name="runner_access_tokens")
    op.drop_table("runner_access_tokens")
    with op.batch_alter_table("runners") as batch:
        batch.drop_constraint(op.f("uq_runners_session_id"), type_="unique")
        batch.drop_column("session_started_at")
        batch.drop_column("session_id")
