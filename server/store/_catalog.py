"""The master catalog: master SKUs with tags and title, and each channel's SKU for them.

Every function runs inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.store import _schema as t

__all__ = ["CatalogRow", "channel_skus_for", "import_rows", "resolve", "tags_of"]

#: One imported row: ``{"sku": str, "tags": [str], "title": str (optional),
#: "channels": {channel: {"channel_sku": str, "identifiers": {name: value}}}}``.
CatalogRow = Mapping[str, Any]

_c = t.catalog.c
_m = t.channel_skus.c


def _check(rows: Sequence[CatalogRow]) -> None:
    """Refuse malformed rows up front, naming the row, so nothing is half imported."""
    for n, row in enumerate(rows):
        sku = row.get("sku")
        if not isinstance(sku, str) or not sku:
            raise ValueError(f"rows[{n}].sku: required")
        tags = row.get("tags", [])
        if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
            raise ValueError(f"rows[{n}].tags: a list of strings")
        channels = row.get("channels", {})
        if not isinstance(channels, Mapping):
            raise ValueError(f"rows[{n}].channels: a mapping of channel to its SKU")
        for channel, mapping in channels.items():
            if not isinstance(mapping, Mapping) or not mapping.get("channel_sku"):
                raise ValueError(f"rows[{n}].channels[{channel!r}].channel_sku: required")


def import_rows(conn: Connection, insert: Any, rows: Sequence[CatalogRow], now: dt.datetime) -> int:
    """Insert or replace master SKUs and their channel SKUs.

    A row replaces the tags and title of its SKU, and for each channel it names, that channel's
    mappings of the SKU (a channel SKU moved to another master follows the newest import). Channels
    a row does not name keep their mappings. ``insert`` is the dialect's ``insert`` function.
    """
    _check(rows)
    if not rows:
        return 0
    catalog_rows = [
        {
            "sku": row["sku"],
            "title": str(row.get("title", "")),
            "tags": sorted(set(row.get("tags", []))),
            "updated_at": now,
        }
        for row in rows
    ]
    ins = insert(t.catalog)
    conn.execute(
        ins.on_conflict_do_update(
            index_elements=["sku"],
            set_={"title": ins.excluded.title, "tags": ins.excluded.tags, "updated_at": now},
        ),
        catalog_rows,
    )
    restated = sorted(
        {(channel, row["sku"]) for row in rows for channel in row.get("channels", {})}
    )
    for channel, sku in restated:
        conn.execute(t.channel_skus.delete().where(_m.channel == channel, _m.master_sku == sku))
    mapping_rows = [
        {
            "channel": channel,
            "channel_sku": str(mapping["channel_sku"]),
            "master_sku": row["sku"],
            "identifiers": dict(mapping.get("identifiers", {})),
            "updated_at": now,
        }
        for row in rows
        for channel, mapping in sorted(row.get("channels", {}).items())
    ]
    if mapping_rows:
        ins = insert(t.channel_skus)
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=["channel", "channel_sku"],
                set_={
                    "master_sku": ins.excluded.master_sku,
                    "identifiers": ins.excluded.identifiers,
                    "updated_at": now,
                },
            ),
            mapping_rows,
        )
    return len(rows)


def resolve(conn: Connection, channel: str, channel_sku: str) -> str | None:
    """The master SKU of a channel's SKU.

    A mapping wins; a channel SKU without one that is itself a master SKU (in the catalog, or
    stocked somewhere: sellers without a catalog use one SKU everywhere) maps to itself; anything
    else is None.
    """
    mapped = conn.execute(
        sa.select(_m.master_sku).where(_m.channel == channel, _m.channel_sku == channel_sku)
    ).scalar_one_or_none()
    if mapped is not None:
        return str(mapped)
    in_catalog = conn.execute(sa.select(_c.sku).where(_c.sku == channel_sku)).first()
    if in_catalog is not None:
        return channel_sku
    stocked = conn.execute(
        sa.select(t.stock.c.sku).where(t.stock.c.sku == channel_sku).limit(1)
    ).first()
    return channel_sku if stocked is not None else None


def tags_of(conn: Connection, skus: Sequence[str]) -> dict[str, frozenset[str]]:
    """Tags of the given master SKUs that are in the catalog (others are left out)."""
    unique = sorted(set(skus))
    tags: dict[str, frozenset[str]] = {}
    for start in range(0, len(unique), 5_000):
        for sku, values in conn.execute(
            sa.select(_c.sku, _c.tags).where(_c.sku.in_(unique[start : start + 5_000]))
        ):
            tags[sku] = frozenset(values)
    return tags


def channel_skus_for(conn: Connection, channel: str, sku: str) -> list[str]:
    """The channel's SKUs mapped to a master SKU, sorted."""
    return sorted(
        conn.execute(
            sa.select(_m.channel_sku).where(_m.channel == channel, _m.master_sku == sku)
        ).scalars()
    )
