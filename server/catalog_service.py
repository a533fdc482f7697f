"""CatalogService: the master catalog, each master SKU with its identifiers on every channel."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NoReturn, Protocol

import grpc
from sortyard.v1 import catalog_service_pb2, catalog_service_pb2_grpc

from server._errors import abort_invalid_argument

__all__ = ["CatalogServicer", "CatalogStore", "catalog_rows"]

MAX_ENTRIES = 50_000
_PRINTABLE = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII, no spaces, at most 64


class CatalogStore(Protocol):
    """What this servicer needs of `server.store.Store`."""

    def import_catalog(self, rows: Sequence[dict[str, Any]]) -> Any: ...

    def resolve_sku(self, channel: str, channel_sku: str) -> Any: ...


def catalog_rows(entries: Sequence[catalog_service_pb2.CatalogEntry]) -> list[dict[str, Any]]:
    """Proto entries as the store's rows: the master SKU, its tags, and per channel the channel's
    SKU with any further identifiers."""
    rows = []
    for e in entries:
        channels: dict[str, dict[str, Any]] = {}
        if e.amazon_seller_sku or e.amazon_asin:
            channels["amazon"] = {
                "channel_sku": e.amazon_seller_sku or e.sku,
                "identifiers": {"asin": e.amazon_asin} if e.amazon_asin else {},
            }
        if e.shopify_variant_id:
            channels["shopify"] = {"channel_sku": e.shopify_variant_id, "identifiers": {}}
        if e.storefront_sku:
            channels["storefront"] = {"channel_sku": e.storefront_sku, "identifiers": {}}
        rows.append({"sku": e.sku, "tags": list(e.tags), "title": e.title, "channels": channels})
    return rows


def _validate(entries: Sequence[catalog_service_pb2.CatalogEntry]) -> list[tuple[str, str]]:
    violations: list[tuple[str, str]] = []
    if len(entries) > MAX_ENTRIES:
        violations.append(("entries", f"at most {MAX_ENTRIES} per call"))
    seen: dict[str, int] = {}
    by_channel: dict[tuple[str, str], int] = {}
    for n, e in enumerate(entries):
        if not _PRINTABLE.match(e.sku):
            violations.append((f"entries[{n}].sku", "required: 1-64 printable ASCII characters"))
        elif e.sku in seen:
            violations.append((f"entries[{n}].sku", f"duplicate of entries[{seen[e.sku]}]"))
        else:
            seen[e.sku] = n
        for name, channel, value in (
            ("amazon_seller_sku", "amazon", e.amazon_seller_sku),
            ("shopify_variant_id", "shopify", e.shopify_variant_id),
            ("storefront_sku", "storefront", e.storefront_sku),
        ):
            if not value:
                continue
            if not _PRINTABLE.match(value):
                violations.append((f"entries[{n}].{name}", "1-64 printable ASCII characters"))
            elif (channel, value) in by_channel:
                first = by_channel[(channel, value)]
                violations.append(
                    (f"entries[{n}].{name}", f"{value!r} already maps entries[{first}].sku")
                )
            else:
                by_channel[(channel, value)] = n
        for t, tag in enumerate(e.tags):
            if not _PRINTABLE.match(tag):
                violations.append((f"entries[{n}].tags[{t}]", "1-64 printable ASCII characters"))
    return violations


class CatalogServicer(catalog_service_pb2_grpc.CatalogServiceServicer):
    def __init__(self, store: CatalogStore) -> None:
        self._store = store

    def ImportSkus(
        self, request: catalog_service_pb2.ImportSkusRequest, context: grpc.ServicerContext
    ) -> catalog_service_pb2.ImportSkusResponse:
        violations = _validate(request.entries)
        if violations:
            _abort_invalid(context, violations)
        if not request.entries:
            return catalog_service_pb2.ImportSkusResponse(imported=0)
        self._store.import_catalog(catalog_rows(request.entries))
        return catalog_service_pb2.ImportSkusResponse(imported=len(request.entries))

    def ResolveSkus(
        self, request: catalog_service_pb2.ResolveSkusRequest, context: grpc.ServicerContext
    ) -> catalog_service_pb2.ResolveSkusResponse:
        violations = []
        if not request.channel:
            violations.append(("channel", "required"))
        if len(request.channel_skus) > MAX_ENTRIES:
            violations.append(("channel_skus", f"at most {MAX_ENTRIES} per call"))
        if violations:
            _abort_invalid(context, violations)
        out = []
        for channel_sku in request.channel_skus:
            resolved = self._store.resolve_sku(request.channel, channel_sku)
            sku, source = _interpret(resolved, channel_sku)
            out.append(
                catalog_service_pb2.SkuResolution(channel_sku=channel_sku, sku=sku, source=source)
            )
        return catalog_service_pb2.ResolveSkusResponse(resolutions=out)


def _interpret(
    resolved: Any, channel_sku: str
) -> tuple[str, catalog_service_pb2.SkuResolutionSource]:
    """The store answers a master SKU (str), None, or (sku, how) where how is
    'mapping'/'identity'."""
    if resolved is None or resolved == "":
        return "", catalog_service_pb2.SKU_RESOLUTION_SOURCE_UNKNOWN
    if isinstance(resolved, tuple):
        sku, how = str(resolved[0]), str(resolved[1]).lower()
        source = (
            catalog_service_pb2.SKU_RESOLUTION_SOURCE_IDENTITY
            if how == "identity"
            else catalog_service_pb2.SKU_RESOLUTION_SOURCE_MAPPING
        )
        return sku, source
    sku = str(resolved)
    source = (
        catalog_service_pb2.SKU_RESOLUTION_SOURCE_IDENTITY
        if sku == channel_sku
        else catalog_service_pb2.SKU_RESOLUTION_SOURCE_MAPPING
    )
    return sku, source


def _abort_invalid(
    context: grpc.ServicerContext, violations: Sequence[tuple[str, str]]
) -> NoReturn:
    abort_invalid_argument(context, list(violations), reason="CATALOG_REQUEST_INVALID")
