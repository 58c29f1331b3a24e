"""environments: deployment environments with protection rules, and jobs waiting for them

A job naming an environment that has a wait timer or required reviewers is `waiting` until
they pass; a review (approve or reject) is kept as a deployment.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("id", ID, nullable=False),
        sa.Column("repo_id", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("name_key", sa.String(length=255), nullable=False),
        sa.Column("wait_timer", sa.Integer(), server_default="0", nullable=False),
        sa.Column("prevent_self_review", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("reviewers", sa.Text(), server_default="[]", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"],
            ["repositories.id"],
            name=op.f("fk_environments_repo_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environments")),
        sa.UniqueConstraint("repo_id", "name_key", name=op.f("uq_environments_repo_id_name_key")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "deployments",
        sa.Column("id", ID, nullable=False),
        sa.Column("repo_id", ID, nullable=False),
        sa.Column("environment", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("sha", sa.String(length=40), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("creator_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"],
            ["repositories.id"],
            name=op.f("fk_deployments_repo_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_deployments_repo_id_id"), "deployments", ["repo_id", "id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("environment_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("waiting_since", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("wait_until", sa.DateTime(), nullable=True))
        batch.add_column(
            sa.Column("review_needed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("queued_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        columns = ("queued_at", "review_needed", "wait_until", "waiting_since", "environment_id")
        for column in columns:
            batch.drop_column(column)
    op.drop_index(op.f("ix_deployments_repo_id_id"), table_name="deployments")
    op.drop_table("deployments")
    op.drop_table("environments")
