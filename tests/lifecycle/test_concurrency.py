"""Concurrency: packages, retries and warehouse cancels of the same fulfillment orders racing on
many threads, on SQLite and PostgreSQL: every unit leaves stock once, none is lost."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial

import pytest

import engine
from server.store import InvalidStateError, RouteRequestRecord, ShipmentLineError, Store

NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
WAREHOUSES = [
    engine.Warehouse("EAST", 40.5, -74.4, postal_code="08817"),
    engine.Warehouse("WEST", 34.1, -117.7, postal_code="91761", time_zone="America/Los_Angeles"),
]
NETWORK = engine.Network(WAREHOUSES)
ROUTER = engine.Router(NETWORK)


def decide(orders: Sequence[engine.Order], stock: engine.StockTable) -> list[engine.RouteDecision]:
    return ROUTER.route(list(orders), stock, now=NOW, commit=True)


def _order(n: int, quantity: int) -> RouteRequestRecord:
    return RouteRequestRecord(
        engine.Order(
            channel="amazon",
            channel_order_id=f"C-{n}",
            lines=(engine.OrderLine("1", "MUG", quantity),),
            ship_to=engine.Address("10001", latitude=40.75, longitude=-73.99),
        )
    )


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A store with EAST and WEST."""
    s = Store.open(db_url, clock=lambda: NOW)
    s.put_warehouses(WAREHOUSES)
    try:
        yield s
    finally:
        s.close()


def _race(jobs: Sequence[Callable[[], object]]) -> list[object]:
    """Run the jobs on their own threads, released together; their results or exceptions."""
    results: list[object] = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = jobs[i]()
        except Exception as error:  # collected: the test asserts which errors are acceptable
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_packages_and_retries_ship_each_unit_once(store: Store) -> None:
    """Eight threads confirm one-unit packages of a four-unit fulfillment order, each package sent
    twice: four distinct packages apply, the rest are replays or find nothing left; on_hand drops
    by exactly four."""
    store.sync([("EAST", "MUG", 10)])
    [routed] = store.route([_order(1, 4)], decide, network=NETWORK)
    [fid] = routed.fulfillment_order_ids
    jobs = [
        (lambda k=k: store.confirm_shipment(fid, "UPS", f"T{k % 4}", NOW, lines=[("1", 1)]))
        for k in range(8)
    ]
    results = _race(jobs)
    applied = [r for r in results if isinstance(r, tuple) and not r[1]]
    assert len(applied) == 4
    assert all(isinstance(r, tuple | ShipmentLineError | InvalidStateError) for r in results)
    table = store.load_stock(["MUG"], NETWORK)
    assert (int(table.on_hand[0, 0]), int(table.reserved[0, 0])) == (6, 0)
    assert store.check_invariants() == []


def test_warehouse_cancel_racing_the_shipment_never_loses_or_doubles_units(store: Store) -> None:
    """For twenty orders, the warehouse cancels while a package is being confirmed: either the
    package shipped (and the cancel re-routed only what was left) or the cancel won (and the
    confirmation was refused); stock always adds up."""
    store.sync([("EAST", "MUG", 40), ("WEST", "MUG", 40)])
    routed = store.route([_order(n, 2) for n in range(20)], decide, network=NETWORK)
    shipped_units = 0
    for r in routed:
        [fid] = r.fulfillment_order_ids
        ship, cancel = _race(
            [
                partial(store.confirm_shipment, fid, "UPS", "T", NOW, lines=[("1", 1)]),
                partial(store.cancel_fulfillment_order, fid, "jam", decide, network=NETWORK),
            ]
        )
        assert not isinstance(cancel, Exception), cancel
        if isinstance(ship, tuple):
            shipped_units += 1
        else:
            assert isinstance(ship, InvalidStateError)
    table = store.load_stock(["MUG"], NETWORK)
    assert int(table.on_hand[0].sum()) == 80 - shipped_units
    assert int(table.reserved[0].sum()) == 40 - shipped_units  # every unshipped unit re-reserved
    assert store.check_invariants() == []
