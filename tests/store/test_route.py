"""Routing through the store: persistence, replays, idempotency keys and dry runs."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from engine import Order, RouteDecision, RouteStatus, StockTable
from server.store import (
    FulfillmentState,
    IdempotencyConflictError,
    OrderState,
    OversellError,
    Store,
    order_id_for,
)
from server.store import _schema as t
from tests.store.helpers import NETWORK, make_order, nearest_decide, record, route


def _row_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in t.metadata.sorted_tables
        }


def _reserved(store: Store, sku: str) -> list[int]:
    return [int(x) for x in store.load_stock([sku], NETWORK).reserved[0]]


def test_order_ids_are_deterministic() -> None:
    """The order id is "so_" + the first 20 hex digits of sha256(channel NUL channel_order_id)."""
    assert order_id_for("amazon", "123-4567") == order_id_for("amazon", "123-4567")
    assert order_id_for("amazon", "1") != order_id_for("amazon1", "")
    assert order_id_for("a", "b").startswith("so_") and len(order_id_for("a", "b")) == 23


def test_route_persists_order_fulfillment_orders_and_reservations(store: Store) -> None:
    """A routed order is stored with its lines, one RESERVED fulfillment order per warehouse,
    its allocations and a history event, and its units are reserved."""
    store.sync([("wh-east", "A", 5), ("wh-west", "B", 2)])
    order = make_order("o1", ("A", 4), ("B", 1))
    [result] = route(store, record(order, "req-1"))
    assert result.error is None and not result.replayed
    assert result.order_id == order_id_for("shopify", "o1")
    assert result.fulfillment_order_ids == (f"{result.order_id}-1", f"{result.order_id}-2")
    assert result.decision is not None and result.decision.status == RouteStatus.ROUTED

    stored = store.get_order(result.order_id)
    assert stored is not None
    assert stored.order == order
    assert stored.route_status == RouteStatus.ROUTED
    assert stored.state == OrderState.ROUTED
    assert stored.policy_version == "t1"
    assert stored.decision == result.decision
    assert [(f.warehouse_id, f.state, f.lines) for f in stored.fulfillment_orders] == [
        (s.warehouse_id, FulfillmentState.RESERVED, s.lines) for s in result.decision.shipments
    ]
    assert stored.fulfillment_orders[0].ship_by == result.decision.shipments[0].ship_by
    assert [e.kind for e in stored.events] == ["ROUTED"]
    assert _reserved(store, "A") == [4, 0, 0]
    assert _reserved(store, "B") == [0, 0, 1]
    assert store.check_invariants() == []


def test_get_order_by_channel_order_id_and_unknown_order(store: Store) -> None:
    """An order is found by its id or by (channel, channel_order_id); unknown ones are None."""
    store.sync([("wh-east", "A", 1)])
    [result] = route(store, record(make_order("o1", ("A", 1), channel="amazon")))
    by_key = store.get_order(channel="amazon", channel_order_id="o1")
    assert by_key is not None and by_key.order_id == result.order_id
    assert store.get_order("so_missing") is None
    assert store.get_order(channel="shopify", channel_order_id="o1") is None
    with pytest.raises(ValueError, match="order_id"):
        store.get_order()


def test_held_and_backordered_orders_are_stored_without_reservations(store: Store) -> None:
    """Held and backordered orders are stored with their reason and reserve nothing."""
    store.sync([("wh-east", "A", 1)])
    held, back = route(
        store,
        record(make_order("o1", ("A", 1), hold=True)),
        record(make_order("o2", ("A", 5))),
    )
    stored_held = store.get_order(held.order_id)
    stored_back = store.get_order(back.order_id)
    assert stored_held is not None and stored_back is not None
    assert stored_held.state == OrderState.HELD
    assert stored_held.hold is not None and stored_held.hold.code == "POLICY_HOLD"
    assert stored_back.state == OrderState.BACKORDERED
    assert [u.code for u in stored_back.unfilled] == ["INSUFFICIENT_STOCK"]
    assert stored_back.fulfillment_orders == ()
    assert _reserved(store, "A") == [0, 0, 0]


def test_later_orders_of_a_batch_see_what_earlier_ones_took(store: Store) -> None:
    """Within one batch the second order cannot take the units the first reserved."""
    store.sync([("wh-east", "A", 3), ("wh-mid", "A", 3)])
    first, second, third = route(
        store,
        record(make_order("o1", ("A", 3))),
        record(make_order("o2", ("A", 3))),
        record(make_order("o3", ("A", 1))),
    )
    assert first.decision is not None and second.decision is not None
    assert first.decision.shipments[0].warehouse_id == "wh-east"
    assert second.decision.shipments[0].warehouse_id == "wh-mid"
    assert third.decision is not None and third.decision.status == RouteStatus.BACKORDERED
    assert _reserved(store, "A") == [3, 3, 0]


def test_routing_a_stored_order_again_replays_and_reserves_nothing(store: Store) -> None:
    """The same (channel, channel_order_id) returns the stored decision, marked replayed, even
    under a new request id and with stock that would now route it differently."""
    store.sync([("wh-east", "A", 5)])
    [first] = route(store, record(make_order("o1", ("A", 2)), "req-1"))
    store.sync([("wh-east", "A", 0), ("wh-mid", "A", 10)], request_id="")
    [again] = route(store, record(make_order("o1", ("A", 2)), "req-2"))
    [same_key] = route(store, record(make_order("o1", ("A", 2)), "req-1"))
    for replay in (again, same_key):
        assert replay.replayed and replay.error is None
        assert replay.order_id == first.order_id
        assert replay.decision == first.decision
        assert replay.fulfillment_order_ids == first.fulfillment_order_ids
    assert _reserved(store, "A") == [2, 0, 0]
    assert store.check_invariants(allow_shortfall=True) == []


def test_same_order_twice_in_one_batch_is_stored_once(store: Store) -> None:
    """The second copy of an order in the same batch replays the first."""
    store.sync([("wh-east", "A", 5)])
    first, second = route(
        store, record(make_order("o1", ("A", 2))), record(make_order("o1", ("A", 2)))
    )
    assert not first.replayed and second.replayed
    assert second.decision == first.decision
    assert second.fulfillment_order_ids == first.fulfillment_order_ids
    assert _reserved(store, "A") == [2, 0, 0]
    assert _row_counts(store)["orders"] == 1


def test_request_id_reused_for_another_payload_fails_only_that_entry(store: Store) -> None:
    """A request id reused with a different hash gets IdempotencyConflictError in its own
    result; the rest of the batch is routed and stored."""
    store.sync([("wh-east", "A", 5)])
    route(store, record(make_order("o1", ("A", 1)), "req-1"))
    conflict, fine, in_batch = route(
        store,
        record(make_order("o2", ("A", 1)), "req-1"),
        record(make_order("o3", ("A", 1)), "req-3"),
        record(make_order("o4", ("A", 1)), "req-3"),
    )
    assert isinstance(conflict.error, IdempotencyConflictError)
    assert conflict.error.request_id == "req-1"
    assert isinstance(in_batch.error, IdempotencyConflictError)
    assert fine.error is None and not fine.replayed
    assert store.get_order(channel="shopify", channel_order_id="o2") is None
    assert store.get_order(channel="shopify", channel_order_id="o4") is None
    assert _reserved(store, "A") == [2, 0, 0]


def test_dry_run_decides_but_writes_nothing(store: Store) -> None:
    """A dry run returns the decision it would make and leaves every table unchanged."""
    store.sync([("wh-east", "A", 5)])
    route(store, record(make_order("o0", ("A", 1))))
    before = _row_counts(store)
    [dry] = route(store, record(make_order("o1", ("A", 2)), "req-1"), dry_run=True)
    assert dry.decision is not None and dry.decision.status == RouteStatus.ROUTED
    assert not dry.replayed
    assert _row_counts(store) == before
    assert _reserved(store, "A") == [1, 0, 0]
    [real] = route(store, record(make_order("o1", ("A", 2)), "req-1"))
    assert not real.replayed and real.decision == dry.decision


def test_dry_run_of_a_stored_order_replays_it(store: Store) -> None:
    """A dry run of an order already stored answers the stored decision."""
    store.sync([("wh-east", "A", 5)])
    [first] = route(store, record(make_order("o1", ("A", 2))))
    [dry] = route(store, record(make_order("o1", ("A", 2))), dry_run=True)
    assert dry.replayed and dry.decision == first.decision


def test_a_decide_that_oversells_commits_nothing(store: Store) -> None:
    """If a decision reserves more than is available, the guarded update refuses it and the
    whole batch rolls back."""
    store.sync([("wh-east", "A", 2)])

    def oversell(orders: Sequence[Order], stock: StockTable) -> list[RouteDecision]:
        stock.on_hand[:] += 100  # pretend there is more than there is
        return nearest_decide(orders, stock)

    with pytest.raises(OversellError):
        store.route(
            [record(make_order("o1", ("A", 1))), record(make_order("o2", ("A", 5)))],
            oversell,
            network=NETWORK,
        )
    assert _row_counts(store)["orders"] == 0
    assert _reserved(store, "A") == [0, 0, 0]
    assert store.check_invariants() == []
    # A decide that keeps to the stock still works afterwards.
    [ok] = route(store, record(make_order("o1", ("A", 1))))
    assert ok.error is None


def test_decide_returning_the_wrong_number_of_decisions_is_an_error(store: Store) -> None:
    """A decide that loses or invents decisions is refused, and nothing is stored."""
    store.sync([("wh-east", "A", 2)])
    with pytest.raises(ValueError, match="decisions"):
        store.route(
            [record(make_order("o1", ("A", 1)))],
            lambda orders, stock: [],
            network=NETWORK,
        )
    assert _row_counts(store)["orders"] == 0


def test_channel_reservations_follow_the_order_channel(store: Store) -> None:
    """Each allocation is counted against its order's channel."""
    store.sync([("wh-east", "A", 9)])
    route(
        store,
        record(make_order("o1", ("A", 2), channel="amazon")),
        record(make_order("o2", ("A", 3), channel="shopify")),
        record(make_order("o3", ("A", 1), channel="amazon")),
    )
    table = store.load_stock(["A"], NETWORK)
    assert int(table.reserved_by_channel["amazon"][0, 0]) == 3
    assert int(table.reserved_by_channel["shopify"][0, 0]) == 3
    assert store.check_invariants() == []
