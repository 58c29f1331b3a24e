"""pending deliveries: an index of each hook's pending deliveries only

The deliverer reads a hook's first pending deliveries in id order. The index on (hook_id, id)
walked every delivery the hook had ever made before reaching them, so each batch got slower
as the hook's history grew; this partial index holds only what is still to be sent.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_hook_deliveries_pending", "hook_deliveries", ["hook_id", "id"],
        sqlite_where=PENDING, postgresql_where=PENDING,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_hook_deliveries_pending", table_name="hook_deliveries")
