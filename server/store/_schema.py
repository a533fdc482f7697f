"""The relational schema, as SQLAlchemy Core tables.

Alembic migrations (``server/migrations``) create exactly these tables; a test compares the two.
The store writes with Core ``insert()``/``update()`` in executemany form rather than ORM objects,
because a routed batch writes thousands of rows per transaction.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "allocations",
    "catalog",
    "channel_skus",
    "channels",
    "fulfillment_orders",
    "idempotency_keys",
    "metadata",
    "network_meta",
    "order_events",
    "order_lines",
    "orders",
    "outbox",
    "return_events",
    "return_lines",
    "return_receipts",
    "returns",
    "shipment_lines",
    "shipments",
    "stock",
    "stock_channel_reserved",
    "stock_history",
    "sync_requests",
    "warehouses",
    "write_offs",
]


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type: SQLAlchemy stores a naive string there. Values are converted to UTC
    on the way in and come back tagged as UTC, so both backends return the same objects.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store needs timezone-aware values")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Key/value counters (network_version). One row per key.
network_meta = sa.Table(
    "network_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

channels = sa.Table(
    "channels",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("registered", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

warehouses = sa.Table(
    "warehouses",
    metadata,
    sa.Column("warehouse_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("latitude", sa.Float, nullable=False),
    sa.Column("longitude", sa.Float, nullable=False),
    sa.Column("postal_code", sa.String(20), nullable=False),
    sa.Column("country_code", sa.String(2), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("handling_days", sa.Integer, nullable=False),
    sa.Column("daily_capacity", sa.Integer, nullable=False),
    sa.Column("pickups", sa.JSON, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# reserved may exceed on_hand only after a sync reported a shortfall; never negative.
stock = sa.Table(
    "stock",
    metadata,
    sa.Column(
        "warehouse_id",
        sa.String(64),
        sa.ForeignKey("warehouses.warehouse_id"),
        primary_key=True,
    ),
    sa.Column("sku", sa.String(128), primary_key=True),
    sa.Column("on_hand", sa.BigInteger, nullable=False),
    sa.Column("reserved", sa.BigInteger, nullable=False),
    sa.CheckConstraint("on_hand >= 0", name="on_hand_nonnegative"),
    sa.CheckConstraint("reserved >= 0", name="reserved_nonnegative"),
    sa.Index("ix_stock_sku", "sku"),
)

# Live reservations per channel (what channel reserves are measured against). Their sum per
# (warehouse, sku) equals stock.reserved.
stock_channel_reserved = sa.Table(
    "stock_channel_reserved",
    metadata,
    sa.Column("warehouse_id", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(128), primary_key=True),
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("reserved", sa.BigInteger, nullable=False),
    sa.CheckConstraint("reserved >= 0", name="reserved_nonnegative"),
    sa.ForeignKeyConstraint(
        ["warehouse_id", "sku"],
        ["stock.warehouse_id", "stock.sku"],
        name="fk_stock_channel_reserved_stock",
    ),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("channel_order_id", sa.String(128), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("decision", sa.JSON, nullable=False),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("request_hash", sa.String(128), nullable=False),
    sa.Column("route_status", sa.SmallInteger, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("hold_code", sa.String(64), nullable=True),
    sa.Column("hold_reason", sa.Text, nullable=True),
    sa.Column("policy_version", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("channel", "channel_order_id", name="uq_orders_channel_order"),
)

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("order_id", sa.String(32), sa.ForeignKey("orders.order_id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("line_id", sa.String(128), nullable=False),
    sa.Column("sku", sa.String(128), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
)

fulfillment_orders = sa.Table(
    "fulfillment_orders",
    metadata,
    sa.Column("fulfillment_order_id", sa.String(48), primary_key=True),
    sa.Column("order_id", sa.String(32), sa.ForeignKey("orders.order_id"), nullable=False),
    sa.Column(
        "warehouse_id", sa.String(64), sa.ForeignKey("warehouses.warehouse_id"), nullable=False
    ),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("distance_km", sa.Float, nullable=False),
    sa.Column("ship_by", UTCDateTime, nullable=True),
    sa.Column("deliver_by", UTCDateTime, nullable=True),
    sa.Column("service_level", sa.SmallInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Lifecycle (migration 0003): when it was handed to the warehouse, delivered, or why cancelled.
    sa.Column("released_at", UTCDateTime, nullable=True),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    sa.Column("cancel_reason", sa.Text, nullable=True),
    sa.Index("ix_fulfillment_orders_order_id", "order_id"),
    sa.Index("ix_fulfillment_orders_warehouse_state", "warehouse_id", "state"),
)

allocations = sa.Table(
    "allocations",
    metadata,
    sa.Column(
        "fulfillment_order_id",
        sa.String(48),
        sa.ForeignKey("fulfillment_orders.fulfillment_order_id"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("line_id", sa.String(128), nullable=False),
    sa.Column("sku", sa.String(128), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("warehouse_id", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    # Units of this allocation already shipped (migration 0003): the rest stays reserved while the
    # fulfillment order is live, so a partial shipment takes exactly what left the building.
    sa.Column("shipped", sa.BigInteger, nullable=False, server_default="0"),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    sa.Index("ix_allocations_warehouse_sku", "warehouse_id", "sku"),
)

shipments = sa.Table(
    "shipments",
    metadata,
    sa.Column("shipment_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "fulfillment_order_id",
        sa.String(48),
        sa.ForeignKey("fulfillment_orders.fulfillment_order_id"),
        nullable=False,
    ),
    sa.Column("carrier", sa.String(64), nullable=False),
    sa.Column("tracking_number", sa.String(128), nullable=False),
    sa.Column("shipped_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint(
        "fulfillment_order_id", "tracking_number", name="uq_shipments_fulfillment_tracking"
    ),
)

order_events = sa.Table(
    "order_events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.String(32), sa.ForeignKey("orders.order_id"), nullable=False),
    sa.Column("fulfillment_order_id", sa.String(48), nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_order_events_order_id", "order_id", "event_id"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("request_hash", sa.String(128), nullable=False),
    sa.Column("order_id", sa.String(32), nullable=False),
    sa.Column("response", sa.LargeBinary, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

sync_requests = sa.Table(
    "sync_requests",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("request_hash", sa.String(128), nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# --- Outbox and catalog (migration 0002)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("outbox_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("dedup_key", sa.String(200), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("available_at", UTCDateTime, nullable=False),  # not pulled before (backoff)
    sa.Column("leased_until", UTCDateTime, nullable=True),  # in flight with an adapter until
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("acked_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.CheckConstraint("kind IN ('tracking', 'quantity', 'refund')", name="kind_known"),
    sa.Index("ix_outbox_pending", "channel", "kind", "acked_at", "available_at"),
    sa.Index("ix_outbox_dedup", "channel", "kind", "dedup_key"),
)

catalog = sa.Table(
    "catalog",
    metadata,
    sa.Column("sku", sa.String(128), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

channel_skus = sa.Table(
    "channel_skus",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("channel_sku", sa.String(128), primary_key=True),
    sa.Column("master_sku", sa.String(128), nullable=False),
    sa.Column("identifiers", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_channel_skus_master", "master_sku"),
)


# --- Lifecycle and returns (migration 0003)

# Which units went into each package: a fulfillment order may ship in several.
shipment_lines = sa.Table(
    "shipment_lines",
    metadata,
    sa.Column("shipment_id", sa.Integer, sa.ForeignKey("shipments.shipment_id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("line_id", sa.String(128), nullable=False),
    sa.Column("sku", sa.String(128), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

returns = sa.Table(
    "returns",
    metadata,
    sa.Column("return_id", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("channel_rma_id", sa.String(128), nullable=False),
    sa.Column("order_id", sa.String(32), sa.ForeignKey("orders.order_id"), nullable=False),
    sa.Column("reason_code", sa.String(64), nullable=False),
    sa.Column("reason_text", sa.Text, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("request_hash", sa.String(128), nullable=False),
    sa.Column("warehouse_id", sa.String(64), nullable=True),  # where it was received
    sa.Column("refund_decision", sa.String(16), nullable=True),  # percent | none | manual_review
    sa.Column("refund_percent", sa.Integer, nullable=True),
    sa.Column("refund_rule", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=True),
    sa.Column("refunded_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("channel", "channel_rma_id", name="uq_returns_channel_rma"),
    sa.Index("ix_returns_order_id", "order_id"),
    sa.Index("ix_returns_created_at", "created_at"),
)

return_lines = sa.Table(
    "return_lines",
    metadata,
    sa.Column("return_id", sa.String(32), sa.ForeignKey("returns.return_id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("line_id", sa.String(128), nullable=False),
    sa.Column("sku", sa.String(128), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

# What arrived, per (line, condition), and where it went (restocked or written off).
return_receipts = sa.Table(
    "return_receipts",
    metadata,
    sa.Column("return_id", sa.String(32), sa.ForeignKey("returns.return_id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("line_id", sa.String(128), nullable=False),
    sa.Column("sku", sa.String(128), nullable=False),
    sa.Column("condition", sa.String(32), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("warehouse_id", sa.String(64), nullable=False),
    sa.Column("restocked", sa.Boolean, nullable=False),
    sa.Column("refund_percent", sa.Integer, nullable=True),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

return_events = sa.Table(
    "return_events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("return_id", sa.String(32), sa.ForeignKey("returns.return_id"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_return_events_return_id", "return_id", "event_id"),
)

# The write-off bucket: returned units that are not sellable. Visible, never sold.
write_offs = sa.Table(
    "write_offs",
    metadata,
    sa.Column("write_off_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("warehouse_id", sa.String(64), nullable=False),
    sa.Column("sku", sa.String(128), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("condition", sa.String(32), nullable=False),
    sa.Column("return_id", sa.String(32), nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    sa.Index("ix_write_offs_sku", "sku", "warehouse_id"),
)

# --- Stock history for replay (migration 0003): append-only, one row per level a Sync applied.

stock_history = sa.Table(
    "stock_history",
    metadata,
    sa.Column("history_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    # The newest order event committed when the sync ran: orders with a first event id above it
    # were routed after this level was known.
    sa.Column("after_event_id", sa.BigInteger, nullable=False),
    sa.Column("warehouse_id", sa.String(64), nullable=False),
    sa.Column("sku", sa.String(128), nullable=False),
    sa.Column("on_hand", sa.BigInteger, nullable=False),
    sa.Index("ix_stock_history_recorded_at", "recorded_at"),
)
