"""Outbox of channel messages; catalog and channel SKU mappings.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "catalog",
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_catalog")),
    )

    op.create_table(
        "channel_skus",
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("channel_sku", sa.String(length=128), nullable=False),
        sa.Column("master_sku", sa.String(length=128), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "channel_sku", name=op.f("pk_channel_skus")),
    )
    op.create_index("ix_channel_skus_master", "channel_skus", ["master_sku"])

    op.create_table(
        "outbox",
        sa.Column("outbox_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('tracking', 'quantity', 'refund')", name=op.f("ck_outbox_kind_known")
        ),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_dedup", "outbox", ["channel", "kind", "dedup_key"])
    op.create_index("ix_outbox_pending", "outbox", ["channel", "kind", "acked_at", "available_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("channel_skus")
    op.drop_table("catalog")
