"""Unknown SKUs through ``Store.route`` with the real Router: held, never backordered.

A SKU is known to the store when it has a stock row at some warehouse or a catalog entry. The
store loads only known SKUs into the StockTable it hands the engine, and the engine holds an order
naming a SKU missing from that table with the code UNKNOWN_SKU. A known SKU with no units is
backordered.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine import Order, RouteDecision, Router, RouteStatus, StockTable
from server.store import OrderState, Store
from tests.store.helpers import NETWORK, NOW, make_order, record

ROUTER = Router(NETWORK)


def real_decide(orders: Sequence[Order], stock: StockTable) -> list[RouteDecision]:
    """The engine's Router with the default policy, committing into ``stock`` like the server."""
    return ROUTER.route(list(orders), stock, now=NOW, commit=True)


def _reserved_units(store: Store, sku: str) -> int:
    return int(store.load_stock([sku], NETWORK).reserved.sum())


def test_unknown_sku_is_held_naming_the_sku_and_reserves_nothing(store: Store) -> None:
    """An order whose only SKU has no stock row and no catalog entry is HELD (UNKNOWN_SKU, the
    reason names the SKU), stored as HELD with that hold, and reserves nothing."""
    [result] = store.route([record(make_order("o1", ("GHOST-1", 2)))], real_decide, network=NETWORK)
    decision = result.decision
    assert decision is not None and result.error is None
    assert decision.status == RouteStatus.HELD
    assert decision.hold is not None and decision.hold.code == "UNKNOWN_SKU"
    assert "GHOST-1" in decision.hold.reason
    assert decision.shipments == ()
    stored = store.get_order(result.order_id)
    assert stored is not None
    assert stored.state == OrderState.HELD and stored.route_status == RouteStatus.HELD
    assert stored.hold == decision.hold
    assert stored.fulfillment_orders == ()
    assert store.check_invariants() == []


def test_one_unknown_line_holds_the_whole_order_and_names_only_that_sku(store: Store) -> None:
    """A two-line order with one stocked and one unknown SKU is held whole: nothing of the stocked
    line is reserved, and the reason names the unknown SKU, not the stocked one."""
    store.sync([("wh-east", "MUG", 5)])
    [result] = store.route(
        [record(make_order("o1", ("MUG", 1), ("GHOST-2", 1)))], real_decide, network=NETWORK
    )
    decision = result.decision
    assert decision is not None and decision.status == RouteStatus.HELD
    assert decision.hold is not None and decision.hold.code == "UNKNOWN_SKU"
    assert "GHOST-2" in decision.hold.reason and "MUG" not in decision.hold.reason
    assert _reserved_units(store, "MUG") == 0
    assert store.check_invariants() == []


def test_known_skus_without_units_are_backordered_not_held(store: Store) -> None:
    """A SKU stocked at zero units, or only in the catalog (no stock row at all), is known: its
    order is BACKORDERED, not held."""
    store.sync([("wh-mid", "ZERO", 0)])
    store.import_catalog([{"sku": "CATALOG-ONLY", "title": "listed, never stocked"}])
    results = store.route(
        [
            record(make_order("o1", ("ZERO", 1))),
            record(make_order("o2", ("CATALOG-ONLY", 1))),
        ],
        real_decide,
        network=NETWORK,
    )
    for result in results:
        assert result.decision is not None
        assert result.decision.status == RouteStatus.BACKORDERED, result.decision
        assert result.decision.hold is None
    assert {store.get_order(r.order_id).state for r in results} == {  # type: ignore[union-attr]
        OrderState.BACKORDERED
    }


def test_unknown_sku_order_does_not_disturb_the_rest_of_the_batch(store: Store) -> None:
    """In one batch, the order with an unknown SKU is held while the orders around it route and
    reserve exactly their units; a retry of the held order replays the stored hold."""
    store.sync([("wh-east", "MUG", 3)])
    batch = [
        record(make_order("o1", ("MUG", 1))),
        record(make_order("o2", ("GHOST-3", 1))),
        record(make_order("o3", ("MUG", 2))),
    ]
    first, held, third = store.route(batch, real_decide, network=NETWORK)
    assert first.decision is not None and first.decision.status == RouteStatus.ROUTED
    assert third.decision is not None and third.decision.status == RouteStatus.ROUTED
    assert held.decision is not None and held.decision.status == RouteStatus.HELD
    assert _reserved_units(store, "MUG") == 3
    [again] = store.route([batch[1]], real_decide, network=NETWORK)
    assert again.replayed and again.decision == held.decision
    assert store.check_invariants() == []


def test_dry_run_holds_an_unknown_sku_too(store: Store) -> None:
    """A dry run applies the same rule (HELD, UNKNOWN_SKU) and stores nothing."""
    [result] = store.route(
        [record(make_order("o1", ("GHOST-4", 1)))], real_decide, network=NETWORK, dry_run=True
    )
    assert result.decision is not None and result.decision.status == RouteStatus.HELD
    assert result.decision.hold is not None and result.decision.hold.code == "UNKNOWN_SKU"
    assert store.get_order(result.order_id) is None
