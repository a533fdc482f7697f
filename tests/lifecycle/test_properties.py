"""Property: however a fulfillment order is split into packages, every unit leaves on_hand exactly
once and the store's invariants hold after each package."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from rules._refund import RefundFacts, default_refund
from server.store import RouteRequestRecord, Store, StoredRoute
from tests.db import database_url

NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
NETWORK = engine.Network([engine.Warehouse("EAST", 40.5, -74.4, postal_code="08817")])


def _route(store: Store, quantities: Sequence[int]) -> StoredRoute:
    router = engine.Router(NETWORK)
    order = engine.Order(
        channel="amazon",
        channel_order_id="P-1",
        lines=tuple(
            engine.OrderLine(str(i), f"SKU{i}", q) for i, q in enumerate(quantities, start=1)
        ),
        ship_to=engine.Address("10001", latitude=40.75, longitude=-73.99),
    )

    def decide(
        orders: Sequence[engine.Order], stock: engine.StockTable
    ) -> list[engine.RouteDecision]:
        return router.route(list(orders), stock, now=NOW, commit=True)

    [routed] = store.route([RouteRequestRecord(order)], decide, network=NETWORK)
    return routed


@settings(max_examples=15, deadline=None)
@given(
    quantities=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    cuts=st.lists(st.integers(0, 3), min_size=0, max_size=4),
)
def test_any_split_into_packages_ships_each_unit_once(
    quantities: list[int], cuts: list[int]
) -> None:
    """Packages taking 1..n units of some line, then a final package for the rest: on_hand of each
    SKU drops by exactly its ordered quantity, reservations drop to zero, and check_invariants
    stays empty after every package."""
    with tempfile.TemporaryDirectory() as tmp, database_url("sqlite", Path(tmp)) as url:
        store = Store.open(url, clock=lambda: NOW)
        try:
            store.put_warehouses(list(NETWORK.warehouses))
            store.sync([("EAST", f"SKU{i}", 10) for i in range(1, len(quantities) + 1)])
            routed = _route(store, quantities)
            [fid] = routed.fulfillment_order_ids
            left = {str(i): q for i, q in enumerate(quantities, start=1)}
            for n, cut in enumerate(cuts):
                line = str(cut % len(quantities) + 1)
                take = min(left[line], 1 + cut % 2)
                if take == 0 or sum(left.values()) == take:
                    continue  # keep the final package for the rest
                store.confirm_shipment(fid, "UPS", f"T{n}", NOW, lines=[(line, take)])
                left[line] -= take
                assert store.check_invariants() == []
            store.confirm_shipment(fid, "UPS", "LAST", NOW)
            assert store.confirm_shipment(fid, "UPS", "LAST", NOW)[1]  # retried: no-op
            table = store.load_stock([f"SKU{i}" for i in range(1, len(quantities) + 1)], NETWORK)
            assert table.on_hand[:, 0].tolist() == [10 - q for q in quantities]
            assert table.reserved.sum() == 0
            assert store.check_invariants() == []
        finally:
            store.close()


CONDITIONS = st.sampled_from(
    ["sellable", "damaged", "defective", "customer_damaged", "carrier_damaged", "wrong_item"]
)


@settings(max_examples=15, deadline=None)
@given(
    receipts=st.lists(st.tuples(st.integers(1, 3), CONDITIONS), min_size=1, max_size=4),
    retries=st.integers(0, 2),
)
def test_a_receipt_restocks_exactly_the_sellable_units(
    receipts: list[tuple[int, str]], retries: int
) -> None:
    """However the returned units split over conditions: on_hand at the receiving warehouse grows
    by exactly the sellable units, the write-off bucket by the rest, and retrying the receipt
    changes nothing and never queues a second refund."""
    total = sum(q for q, _ in receipts)
    with tempfile.TemporaryDirectory() as tmp, database_url("sqlite", Path(tmp)) as url:
        store = Store.open(url, clock=lambda: NOW)
        try:
            store.put_warehouses(list(NETWORK.warehouses))
            store.sync([("EAST", "SKU1", 20)])
            routed = _route(store, [total])
            store.confirm_shipment(routed.fulfillment_order_ids[0], "UPS", "T", NOW)
            stored, _ = store.create_return(
                channel="amazon",
                channel_rma_id="R-1",
                channel_order_id="P-1",
                lines=[("1", "", total)],
                reason_code="CR-DEFECTIVE",
                authorize=True,
            )
            units = [("1", q, c) for q, c in receipts]

            def verdict(reason: str, condition: str, channel: str, sku: str, n: int) -> Any:
                return default_refund(RefundFacts(reason, condition, channel, sku, n))

            for _ in range(1 + retries):
                store.receive_return(stored.return_id, "EAST", units, verdict)
            sellable = sum(q for q, c in receipts if c == "sellable")
            table = store.load_stock(["SKU1"], NETWORK)
            assert int(table.on_hand[0, 0]) == 20 - total + sellable
            assert sum(store.written_off(["SKU1"]).values()) == total - sellable
            refunds = store.pull_outbox("amazon", kinds=("refund",))
            review = any(c in ("customer_damaged", "wrong_item") for _, c in receipts)
            assert len(refunds) == (0 if review else 1)
            assert store.check_invariants() == []
        finally:
            store.close()
