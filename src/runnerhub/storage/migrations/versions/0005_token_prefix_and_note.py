"""a display prefix and a note on personal access tokens

Only a token's hash is stored, so an operator listing tokens could not tell them apart. The
prefix (ghp_Ab12) identifies a token without revealing it; tokens made before stay NULL.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("token_prefix", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("note")
        batch.drop_column("token_prefix")
