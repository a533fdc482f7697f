"""`sortyard skus import FILE.csv`: the master catalog from a spreadsheet export.

Columns (header row, any order): `sku` (required), `amazon_seller_sku`, `amazon_asin`,
`shopify_variant_id`, `storefront_sku`, `tags` (separated by `;`), `title`. Unknown columns are an
error so a misspelt header does not silently drop a mapping.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sortyard.v1 import catalog_service_pb2

__all__ = ["CatalogCsvError", "read_catalog_csv"]

COLUMNS = (
    "sku",
    "amazon_seller_sku",
    "amazon_asin",
    "shopify_variant_id",
    "storefront_sku",
    "tags",
    "title",
)


class CatalogCsvError(ValueError):
    """`FILE:LINE: column: problem`, the way compilers point at a line."""


def read_catalog_csv(path: str | Path) -> list[catalog_service_pb2.CatalogEntry]:
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CatalogCsvError(f"{path}: cannot read: {exc.strerror}") from exc
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        unknown = [h for h in header if h not in COLUMNS]
        if "sku" not in header:
            raise CatalogCsvError(
                f"{path}:1: header: a `sku` column is required (columns: {', '.join(COLUMNS)})"
            )
        if unknown:
            raise CatalogCsvError(
                f"{path}:1: header: unknown column(s) {', '.join(unknown)}; "
                f"known: {', '.join(COLUMNS)}"
            )
        entries = []
        for row in reader:
            line = reader.line_num
            values = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            if not any(values.values()):
                continue
            if not values.get("sku"):
                raise CatalogCsvError(f"{path}:{line}: sku: empty")
            entries.append(
                catalog_service_pb2.CatalogEntry(
                    sku=values["sku"],
                    amazon_seller_sku=values.get("amazon_seller_sku", ""),
                    amazon_asin=values.get("amazon_asin", ""),
                    shopify_variant_id=values.get("shopify_variant_id", ""),
                    storefront_sku=values.get("storefront_sku", ""),
                    tags=[t.strip() for t in values.get("tags", "").split(";") if t.strip()],
                    title=values.get("title", ""),
                )
            )
    return entries
