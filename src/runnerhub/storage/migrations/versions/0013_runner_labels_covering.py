"""runner labels readable from one index

Runner lists read every runner's label ids and types on every request. The primary key
(runner_id, label_id) leaves the type in the table, one more lookup per label; an index that
holds the type as well answers the read alone.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

NAME = "ix_runner_labels_runner_id_label_id_type"


def upgrade() -> None:
    op.create_index(NAME, "runner_labels", ["runner_id", "label_id", "type"])


def downgrade() -> None:
    op.drop_index(NAME, table_name="runner_labels")
