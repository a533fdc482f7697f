"""Order lifecycle and returns: partial shipments, release/delivery times, returns, write-offs.

Revision ID: 0003_lifecycle_returns
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_lifecycle_returns"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("allocations") as batch:
        batch.add_column(sa.Column("shipped", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("fulfillment_orders") as batch:
        batch.add_column(sa.Column("released_at", _utc(), nullable=True))
        batch.add_column(sa.Column("delivered_at", _utc(), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))

    op.create_table(
        "shipment_lines",
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=128), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_shipment_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.shipment_id"],
            name=op.f("fk_shipment_lines_shipment_id_shipments"),
        ),
        sa.PrimaryKeyConstraint("shipment_id", "position", name=op.f("pk_shipment_lines")),
    )

    op.create_table(
        "returns",
        sa.Column("return_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("channel_rma_id", sa.String(length=128), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=False),
        sa.Column("reason_text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("request_hash", sa.String(length=128), nullable=False),
        sa.Column("warehouse_id", sa.String(length=64), nullable=True),
        sa.Column("refund_decision", sa.String(length=16), nullable=True),
        sa.Column("refund_percent", sa.Integer(), nullable=True),
        sa.Column("refund_rule", sa.Text(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("received_at", _utc(), nullable=True),
        sa.Column("refunded_at", _utc(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name=op.f("fk_returns_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("return_id", name=op.f("pk_returns")),
        sa.UniqueConstraint("channel", "channel_rma_id", name="uq_returns_channel_rma"),
    )
    op.create_index("ix_returns_order_id", "returns", ["order_id"])
    op.create_index("ix_returns_created_at", "returns", ["created_at"])

    op.create_table(
        "return_lines",
        sa.Column("return_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=128), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_return_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.return_id"], name=op.f("fk_return_lines_return_id_returns")
        ),
        sa.PrimaryKeyConstraint("return_id", "position", name=op.f("pk_return_lines")),
    )

    op.create_table(
        "return_receipts",
        sa.Column("return_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=128), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("condition", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("warehouse_id", sa.String(length=64), nullable=False),
        sa.Column("restocked", sa.Boolean(), nullable=False),
        sa.Column("refund_percent", sa.Integer(), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_return_receipts_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["returns.return_id"],
            name=op.f("fk_return_receipts_return_id_returns"),
        ),
        sa.PrimaryKeyConstraint("return_id", "position", name=op.f("pk_return_receipts")),
    )

    op.create_table(
        "return_events",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("return_id", sa.String(length=32), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.return_id"], name=op.f("fk_return_events_return_id_returns")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_return_events")),
    )
    op.create_index("ix_return_events_return_id", "return_events", ["return_id", "event_id"])

    op.create_table(
        "write_offs",
        sa.Column("write_off_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("warehouse_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("condition", sa.String(length=32), nullable=False),
        sa.Column("return_id", sa.String(length=32), nullable=True),
        sa.Column("at", _utc(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_write_offs_quantity_positive")),
        sa.PrimaryKeyConstraint("write_off_id", name=op.f("pk_write_offs")),
    )
    op.create_index("ix_write_offs_sku", "write_offs", ["sku", "warehouse_id"])


def downgrade() -> None:
    op.drop_table("write_offs")
    op.drop_table("return_events")
    op.drop_table("return_receipts")
    op.drop_table("return_lines")
    op.drop_table("returns")
    op.drop_table("shipment_lines")
    with op.batch_alter_table("fulfillment_orders") as batch:
        batch.drop_column("cancel_reason")
        batch.drop_column("delivered_at")
        batch.drop_column("released_at")
    with op.batch_alter_table("allocations") as batch:
        batch.drop_column("shipped")
