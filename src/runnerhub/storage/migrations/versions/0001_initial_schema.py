"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "scopes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scopes")),
    )
    op.create_table(
        "enterprises",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("slug_lower", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("scope_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scope_id"], ["scopes.id"], name=op.f("fk_enterprises_scope_id_scopes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprises")),
        sa.UniqueConstraint("scope_id", name=op.f("uq_enterprises_scope_id")),
        sa.UniqueConstraint("slug_lower", name=op.f("uq_enterprises_slug_lower")),
    )
    op.create_table(
        "labels",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("name_lower", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["scope_id"], ["scopes.id"], name=op.f("fk_labels_scope_id_scopes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
        sa.UniqueConstraint("scope_id", "name_lower", name=op.f("uq_labels_scope_id_name_lower")),
    )
    op.create_table(
        "runner_groups",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["scope_id"], ["scopes.id"], name=op.f("fk_runner_groups_scope_id_scopes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runner_groups")),
        sa.UniqueConstraint("scope_id", "number", name=op.f("uq_runner_groups_scope_id_number")),
    )
    op.create_table(
        "runner_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scope_id"], ["scopes.id"], name=op.f("fk_runner_tokens_scope_id_scopes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runner_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_runner_tokens_token_hash")),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("login", sa.String(length=100), nullable=False),
        sa.Column("login_lower", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("site_admin", sa.Boolean(), nullable=False),
        sa.Column(
            "enterprise_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("scope_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_accounts_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["scope_id"], ["scopes.id"], name=op.f("fk_accounts_scope_id_scopes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("login_lower", name=op.f("uq_accounts_login_lower")),
        sa.UniqueConstraint("scope_id", name=op.f("uq_accounts_scope_id")),
    )
    op.create_table(
        "runners",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("name_lower", sa.String(length=255), nullable=False),
        sa.Column("os", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=True),
        sa.Column("ephemeral", sa.Boolean(), nullable=False),
        sa.Column("work_folder", sa.String(length=255), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=True),
        sa.Column("client_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"], ["runner_groups.id"], name=op.f("fk_runners_group_id_runner_groups")
        ),
        sa.ForeignKeyConstraint(
            ["scope_id"], ["scopes.id"], name=op.f("fk_runners_scope_id_scopes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runners")),
        sa.UniqueConstraint("client_id", name=op.f("uq_runners_client_id")),
        sa.UniqueConstraint("scope_id", "name_lower", name=op.f("uq_runners_scope_id_name_lower")),
    )
    with op.batch_alter_table("runners", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_runners_scope_id_id"), ["scope_id", "id"], unique=False
        )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=False),
        sa.Column(
            "resource_owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("repository_selection", sa.String(length=16), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_owner_id"],
            ["accounts.id"],
            name=op.f("fk_api_tokens_resource_owner_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["accounts.id"], name=op.f("fk_api_tokens_user_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "enterprise_owners",
        sa.Column(
            "enterprise_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_enterprise_owners_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["accounts.id"], name=op.f("fk_enterprise_owners_user_id_accounts")
        ),
        sa.PrimaryKeyConstraint("enterprise_id", "user_id", name=op.f("pk_enterprise_owners")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("runner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["runner_id"],
            ["runners.id"],
            name=op.f("fk_jobs_runner_id_runners"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["scope_id"], ["scopes.id"], name=op.f("fk_jobs_scope_id_scopes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_jobs_runner_id_status"), ["runner_id", "status"], unique=False
        )

    op.create_table(
        "org_memberships",
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["accounts.id"], name=op.f("fk_org_memberships_org_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["accounts.id"], name=op.f("fk_org_memberships_user_id_accounts")
        ),
        sa.PrimaryKeyConstraint("org_id", "user_id", name=op.f("pk_org_memberships")),
    )
    with op.batch_alter_table("org_memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_org_memberships_user_id"), ["user_id"], unique=False)

    op.create_table(
        "repositories",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_lower", sa.String(length=100), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("scope_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["accounts.id"], name=op.f("fk_repositories_owner_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["scope_id"], ["scopes.id"], name=op.f("fk_repositories_scope_id_scopes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repositories")),
        sa.UniqueConstraint(
            "owner_id", "name_lower", name=op.f("uq_repositories_owner_id_name_lower")
        ),
        sa.UniqueConstraint("scope_id", name=op.f("uq_repositories_scope_id")),
    )
    op.create_table(
        "runner_labels",
        sa.Column(
            "runner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("label_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["labels.id"],
            name=op.f("fk_runner_labels_label_id_labels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["runner_id"],
            ["runners.id"],
            name=op.f("fk_runner_labels_runner_id_runners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("runner_id", "label_id", name=op.f("pk_runner_labels")),
    )
    with op.batch_alter_table("runner_labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runner_labels_label_id"), ["label_id"], unique=False)

    op.create_table(
        "api_token_repositories",
        sa.Column("token_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"],
            ["repositories.id"],
            name=op.f("fk_api_token_repositories_repo_id_repositories"),
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_api_token_repositories_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "repo_id", name=op.f("pk_api_token_repositories")),
    )
    op.create_table(
        "repo_collaborators",
        sa.Column("repo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("permission", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"],
            ["repositories.id"],
            name=op.f("fk_repo_collaborators_repo_id_repositories"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["accounts.id"], name=op.f("fk_repo_collaborators_user_id_accounts")
        ),
        sa.PrimaryKeyConstraint("repo_id", "user_id", name=op.f("pk_repo_collaborators")),
    )
    with op.batch_alter_table("repo_collaborators", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_repo_collaborators_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("repo_collaborators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repo_collaborators_user_id"))

    op.drop_table("repo_collaborators")
    op.drop_table("api_token_repositories")
    with op.batch_alter_table("runner_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runner_labels_label_id"))

    op.drop_table("runner_labels")
    op.drop_table("repositories")
    with op.batch_alter_table("org_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_memberships_user_id"))

    op.drop_table("org_memberships")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_runner_id_status"))

    op.drop_table("jobs")
    op.drop_table("enterprise_owners")
    op.drop_table("api_tokens")
    with op.batch_alter_table("runners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runners_scope_id_id"))

    op.drop_table("runners")
    op.drop_table("accounts")
    op.drop_table("runner_tokens")
    op.drop_table("runner_groups")
    op.drop_table("labels")
    op.drop_table("enterprises")
    op.drop_table("scopes")
