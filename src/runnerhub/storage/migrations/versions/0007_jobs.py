"""workflows, runs and jobs

Workflow files stored through the contents API (each write a commit), the workflows they
define, their runs, and the runs' jobs with their steps, outputs and log lines; a runner
holds at most one job (runners.job_id).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commits",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sha", sa.String(length=40), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["accounts.id"], name=op.f("fk_commits_author_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["repo_id"],
            ["repositories.id"],
            name=op.f("fk_commits_repo_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commits")),
        sa.UniqueConstraint("repo_id", "sha", name=op.f("uq_commits_repo_id_sha")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("commits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_commits_repo_id_branch_id"), ["repo_id", "branch", "id"], unique=False
        )

    op.create_table(
        "workflow_files",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("blob_sha", sa.String(length=40), nullable=False),
        sa.Column("commit_sha", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"],
            ["repositories.id"],
            name=op.f("fk_workflow_files_repo_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_files")),
        sa.UniqueConstraint("repo_id", "path", name=op.f("uq_workflow_files_repo_id_path")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "workflows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("run_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"],
            ["repositories.id"],
            name=op.f("fk_workflows_repo_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
        sa.UniqueConstraint("repo_id", "path", name=op.f("uq_workflows_repo_id_path")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "workflow_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "workflow_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("run_number", sa.BigInteger(), nullable=False),
        sa.Column("run_attempt", sa.Integer(), server_default="1", nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("conclusion", sa.String(length=16), nullable=True),
        sa.Column("head_sha", sa.String(length=40), nullable=False),
        sa.Column("head_branch", sa.String(length=255), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "triggering_actor_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("inputs", sa.Text(), server_default="{}", nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("run_started_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["accounts.id"], name=op.f("fk_workflow_runs_actor_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["repo_id"],
            ["repositories.id"],
            name=op.f("fk_workflow_runs_repo_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["triggering_actor_id"],
            ["accounts.id"],
            name=op.f("fk_workflow_runs_triggering_actor_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_runs_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_runs")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_runs_repo_id_id"), ["repo_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_workflow_runs_workflow_id_id"), ["workflow_id", "id"], unique=False
        )

    op.create_table(
        "job_log_lines",
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_log_lines_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_job_log_lines")),
    )
    # Rebuilt on SQLite (a new foreign key): AUTOINCREMENT must be asked for again.
    with op.batch_alter_table(
        "jobs", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(
            sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        for column in ("org_scope_id", "enterprise_scope_id"):
            batch_op.add_column(
                sa.Column(column, sa.BigInteger().with_variant(sa.Integer(), "sqlite"))
            )
        batch_op.add_column(
            sa.Column("run_attempt", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.add_column(
            sa.Column("job_key", sa.String(length=100), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("name", sa.String(length=255), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("matrix", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("labels", sa.Text(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("runner_group", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("runner_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("runner_group_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("runner_group_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("conclusion", sa.String(length=16), nullable=True))
        for flag in ("acknowledged", "cancel_requested", "cancel_delivered"):
            batch_op.add_column(
                sa.Column(flag, sa.Boolean(), server_default=sa.false(), nullable=False)
            )
        batch_op.add_column(sa.Column("steps", sa.Text(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("outputs", sa.Text(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("message", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("log_bytes", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_jobs_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_status_id"), ["status", "id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_jobs_run_id_workflow_runs"),
            "workflow_runs",
            ["run_id"],
            ["id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("runners", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("runners", schema=None) as batch_op:
        batch_op.drop_column("job_id")

    with op.batch_alter_table(
        "jobs", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_jobs_run_id_workflow_runs"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_jobs_status_id"))
        batch_op.drop_index(batch_op.f("ix_jobs_run_id"))
        batch_op.drop_column("log_bytes")
        batch_op.drop_column("message")
        batch_op.drop_column("outputs")
        batch_op.drop_column("steps")
        batch_op.drop_column("cancel_delivered")
        batch_op.drop_column("cancel_requested")
        batch_op.drop_column("acknowledged")
        batch_op.drop_column("conclusion")
        batch_op.drop_column("runner_group_name")
        batch_op.drop_column("runner_group_id")
        batch_op.drop_column("runner_name")
        batch_op.drop_column("runner_group")
        batch_op.drop_column("labels")
        batch_op.drop_column("matrix")
        batch_op.drop_column("name")
        batch_op.drop_column("job_key")
        batch_op.drop_column("run_attempt")
        batch_op.drop_column("enterprise_scope_id")
        batch_op.drop_column("org_scope_id")
        batch_op.drop_column("run_id")

    op.drop_table("job_log_lines")
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_runs_workflow_id_id"))
        batch_op.drop_index(batch_op.f("ix_workflow_runs_repo_id_id"))

    op.drop_table("workflow_runs")
    op.drop_table("workflows")
    op.drop_table("workflow_files")
    with op.batch_alter_table("commits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commits_repo_id_branch_id"))

    op.drop_table("commits")
