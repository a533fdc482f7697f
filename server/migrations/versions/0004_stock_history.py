"""Append-only stock history: every level a Sync applied, for replay.

Revision ID: 0004_stock_history
Revises: 0003_lifecycle_returns
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_stock_history"
down_revision: str | None = "0003_lifecycle_returns"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "stock_history",
        sa.Column("history_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("after_event_id", sa.BigInteger(), nullable=False),
        sa.Column("warehouse_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("on_hand", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("history_id", name=op.f("pk_stock_history")),
    )
    op.create_index("ix_stock_history_recorded_at", "stock_history", ["recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_stock_history_recorded_at", table_name="stock_history")
    op.drop_table("stock_history")
