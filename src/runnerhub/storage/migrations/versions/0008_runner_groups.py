"""runner groups: case-insensitive names, access, workflow restrictions and group numbers

Groups get `name_lower` (unique per scope: names are case-insensitive), the public-repository
flag and the workflow restriction; organization groups their selected repositories,
enterprise groups their selected organizations (child tables). New groups take their number
(the API's runner_group_id) from `runner_group_numbers`, one sequence for every scope: an
enterprise's groups are listed among its organizations' own, so two groups seen together
must never share a number. 1 stays every scope's Default; 2 is GitHub's hosted group.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("runner_groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_lower", sa.String(length=255), nullable=True))
        for flag in ("allows_public_repositories", "restricted_to_workflows"):
            batch_op.add_column(
                sa.Column(flag, sa.Boolean(), server_default=sa.false(), nullable=False)
            )
        batch_op.add_column(
            sa.Column("selected_workflows", sa.Text(), server_default="[]", nullable=False)
        )
    # Existing groups are the Default ones; GitHub's organization Default allows public
    # repositories (its documented example), its enterprise Default does not.
    op.execute("UPDATE runner_groups SET name_lower = lower(name)")
    op.execute(
        "UPDATE runner_groups SET allows_public_repositories = true WHERE is_default = true "
        "AND scope_id IN (SELECT id FROM scopes WHERE kind <> 'enterprise')"
    )
    with op.batch_alter_table(
        "runner_groups", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.alter_column("name_lower", existing_type=sa.String(length=255), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_runner_groups_scope_id_name_lower"), ["scope_id", "name_lower"]
        )

    op.create_table(
        "runner_group_numbers",
        sa.Column("id", ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runner_group_numbers")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "runner_group_repositories",
        sa.Column("group_id", ID, nullable=False),
        sa.Column("repo_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["runner_groups.id"],
            name=op.f("fk_runner_group_repositories_group_id_runner_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repo_id"],
            ["repositories.id"],
            name=op.f("fk_runner_group_repositories_repo_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "repo_id", name=op.f("pk_runner_group_repositories")),
    )
    op.create_index(
        op.f("ix_runner_group_repositories_repo_id"), "runner_group_repositories", ["repo_id"]
    )
    op.create_table(
        "runner_group_organizations",
        sa.Column("group_id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["runner_groups.id"],
            name=op.f("fk_runner_group_organizations_group_id_runner_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["accounts.id"],
            name=op.f("fk_runner_group_organizations_org_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "org_id", name=op.f("pk_runner_group_organizations")),
    )
    op.create_index(
        op.f("ix_runner_group_organizations_org_id"), "runner_group_organizations", ["org_id"]
    )
    # A group's runners, in id order: the membership list pages through it.
    op.create_index(op.f("ix_runners_group_id_id"), "runners", ["group_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_runners_group_id_id"), table_name="runners")
    op.drop_index(
        op.f("ix_runner_group_organizations_org_id"), table_name="runner_group_organizations"
    )
    op.drop_table("runner_group_organizations")
    op.drop_index(
        op.f("ix_runner_group_repositories_repo_id"), table_name="runner_group_repositories"
    )
    op.drop_table("runner_group_repositories")
    op.drop_table("runner_group_numbers")
    # Runners of the groups that go leave for their scope's Default first.
    op.execute(
        "UPDATE runners SET group_id = (SELECT d.id FROM runner_groups d "
        "WHERE d.scope_id = runners.scope_id AND d.number = 1) "
        "WHERE group_id IN (SELECT id FROM runner_groups WHERE number <> 1)"
    )
    op.execute("DELETE FROM runner_groups WHERE number <> 1")
    with op.batch_alter_table(
        "runner_groups", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_runner_groups_scope_id_name_lower"), type_="unique")
        batch_op.drop_column("selected_workflows")
        batch_op.drop_column("restricted_to_workflows")
        batch_op.drop_column("allows_public_repositories")
        batch_op.drop_column("name_lower")
