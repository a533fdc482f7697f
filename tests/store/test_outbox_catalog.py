"""The outbox of channel messages and the catalog of SKUs."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.store import NotFoundError, Store
from tests.store.helpers import NOW, WAREHOUSES, make_order, record, route


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clocked(db_url: str) -> Iterator[tuple[Store, Clock]]:
    """A store on a hand-moved clock, with the test network and channels amazon and ebay."""
    clock = Clock()
    store = Store.open(db_url, clock=clock)
    store.put_warehouses(WAREHOUSES)
    store.register_channels(["amazon", "ebay"])
    try:
        yield store, clock
    finally:
        store.close()


def _quantity_skus(store: Store, channel: str) -> list[str]:
    entries = store.pull_outbox(channel, ["quantity"], limit=100, lease_seconds=30)
    store.ack_outbox([e.outbox_id for e in entries])
    return sorted(str(e.payload["sku"]) for e in entries)


def test_stock_changes_queue_one_quantity_update_per_channel_and_sku(
    clocked: tuple[Store, Clock],
) -> None:
    """A sync, a route and a cancel each queue quantity updates for the SKUs they touched, for
    every known channel; updates still waiting coalesce into one per (channel, sku)."""
    store, _ = clocked
    store.sync([("wh-east", "A", 5), ("wh-east", "B", 5)])
    [routed] = route(store, record(make_order("o1", ("A", 1), channel="amazon")))
    store.cancel_order(routed.order_id)
    assert _quantity_skus(store, "amazon") == ["A", "B"]
    assert _quantity_skus(store, "ebay") == ["A", "B"]
    assert _quantity_skus(store, "amazon") == []
    store.sync([("wh-mid", "B", 1)])
    assert _quantity_skus(store, "ebay") == ["B"]


def test_a_replayed_sync_or_route_queues_nothing(clocked: tuple[Store, Clock]) -> None:
    """Replays change no stock, so they send no quantity updates."""
    store, _ = clocked
    store.sync([("wh-east", "A", 5)], request_id="s1")
    route(store, record(make_order("o1", ("A", 1))))
    _quantity_skus(store, "amazon")
    store.sync([("wh-east", "A", 5)], request_id="s1")
    route(store, record(make_order("o1", ("A", 1))))
    assert _quantity_skus(store, "amazon") == []


def test_confirm_shipment_queues_one_tracking_message_for_the_order_channel(
    clocked: tuple[Store, Clock],
) -> None:
    """A shipment queues a tracking message, with the order, fulfillment order, carrier,
    tracking number, time and lines, to the order's channel only; a repeated confirmation
    queues nothing more."""
    store, _ = clocked
    store.sync([("wh-east", "A", 5)])
    [routed] = route(store, record(make_order("o1", ("A", 2), channel="amazon")))
    fid = routed.fulfillment_order_ids[0]
    store.confirm_shipment(fid, "UPS", "1Z1", NOW)
    store.confirm_shipment(fid, "UPS", "1Z1", NOW)
    [entry] = store.pull_outbox("amazon", ["tracking"])
    assert entry.kind == "tracking" and entry.attempts == 1
    assert entry.payload == {
        "order_id": routed.order_id,
        "channel_order_id": "o1",
        "fulfillment_order_id": fid,
        "carrier": "UPS",
        "tracking_number": "1Z1",
        "shipped_at": NOW.isoformat(),
        "lines": [{"line_id": "L1", "sku": "A", "quantity": 2}],
    }
    assert store.pull_outbox("ebay", ["tracking"]) == []


def test_a_leased_entry_is_not_handed_out_again_until_the_lease_ends(
    clocked: tuple[Store, Clock],
) -> None:
    """Two pulls within the lease never get the same entry; after the lease runs out an
    unacknowledged entry comes back with its attempt counted."""
    store, clock = clocked
    store.enqueue_refund("amazon", "RMA-1", {"amount": "10.00"})
    [first] = store.pull_outbox("amazon", ["refund"], lease_seconds=30)
    assert store.pull_outbox("amazon", ["refund"]) == []
    clock.advance(31)
    [again] = store.pull_outbox("amazon", ["refund"])
    assert again.outbox_id == first.outbox_id
    assert again.attempts == 2
    assert store.ack_outbox([again.outbox_id]) == 1
    assert store.ack_outbox([again.outbox_id]) == 0
    clock.advance(3600)
    assert store.pull_outbox("amazon", ["refund"]) == []


def test_nack_delays_the_entry_and_records_the_error(clocked: tuple[Store, Clock]) -> None:
    """A nacked entry is due again after retry_after, carrying the error; nacking an unknown
    or acknowledged entry is NotFoundError."""
    store, clock = clocked
    store.enqueue_refund("amazon", "RMA-1", {"amount": "10.00"})
    [entry] = store.pull_outbox("amazon", ["refund"])
    store.nack_outbox(entry.outbox_id, "throttled", retry_after=60)
    assert store.pull_outbox("amazon", ["refund"]) == []
    clock.advance(61)
    [retry] = store.pull_outbox("amazon", ["refund"])
    assert retry.last_error == "throttled" and retry.attempts == 2
    store.ack_outbox([retry.outbox_id])
    with pytest.raises(NotFoundError):
        store.nack_outbox(retry.outbox_id, "late", 0)
    with pytest.raises(NotFoundError):
        store.nack_outbox(999_999, "nope", 0)


def test_a_sku_in_flight_is_held_back_and_the_newest_update_wins(
    clocked: tuple[Store, Clock],
) -> None:
    """While a quantity update of a SKU is in flight, a newer one waits (an older absolute
    quantity must not land after a newer one); when the lease runs out unacknowledged, only the
    newest of the two is handed out and the older is retired."""
    store, clock = clocked
    store.sync([("wh-east", "A", 5)])
    [in_flight] = store.pull_outbox("amazon", ["quantity"], lease_seconds=30)
    store.sync([("wh-east", "A", 4)])
    assert store.pull_outbox("amazon", ["quantity"]) == []
    clock.advance(31)
    [newest] = store.pull_outbox("amazon", ["quantity"])
    assert newest.outbox_id > in_flight.outbox_id
    store.ack_outbox([newest.outbox_id])
    clock.advance(31)
    assert store.pull_outbox("amazon", ["quantity"]) == []


def test_pull_respects_limit_kinds_and_channel(clocked: tuple[Store, Clock]) -> None:
    """Pull returns at most ``limit`` entries, oldest first, of the asked kinds and channel;
    an unknown kind is a ValueError."""
    store, _ = clocked
    for n in range(3):
        store.enqueue_refund("amazon", f"RMA-{n}", {"n": n})
    store.sync([("wh-east", "A", 5)])
    first_two = store.pull_outbox("amazon", ["refund"], limit=2)
    assert [e.payload["n"] for e in first_two] == [0, 1]
    assert [e.kind for e in store.pull_outbox("amazon", ["refund", "quantity"])] == [
        "refund",
        "quantity",
    ]
    with pytest.raises(ValueError, match="unknown outbox kinds"):
        store.pull_outbox("amazon", ["email"])


def test_prune_deletes_only_old_acknowledged_entries(clocked: tuple[Store, Clock]) -> None:
    """Pruning removes acknowledged entries older than the cut-off and keeps the rest."""
    store, clock = clocked
    store.enqueue_refund("amazon", "RMA-1", {})
    store.enqueue_refund("amazon", "RMA-2", {})
    [one] = store.pull_outbox("amazon", ["refund"], limit=1)
    store.ack_outbox([one.outbox_id])
    clock.advance(10)
    assert store.prune_outbox(clock.now) == 1
    assert [e.dedup_key for e in store.pull_outbox("amazon", ["refund"])] == ["RMA-2"]


def test_catalog_import_resolve_and_tags(store: Store) -> None:
    """Imported channel SKUs resolve to their master SKU; a master SKU (catalogued or stocked)
    resolves to itself; anything else is None. Tags come back per catalogued SKU."""
    store.import_catalog(
        [
            {
                "sku": "MUG-1",
                "title": "Mug",
                "tags": ["fragile", "kitchen"],
                "channels": {
                    "amazon": {"channel_sku": "AMZ-MUG", "identifiers": {"asin": "B000TEST"}},
                    "shopify": {"channel_sku": "4455", "identifiers": {}},
                },
            },
            {"sku": "CUP-1", "tags": []},
        ]
    )
    store.sync([("wh-east", "STOCKED-ONLY", 1)])
    assert store.resolve_sku("amazon", "AMZ-MUG") == "MUG-1"
    assert store.resolve_sku("shopify", "4455") == "MUG-1"
    assert store.resolve_sku("shopify", "AMZ-MUG") is None
    assert store.resolve_sku("ebay", "CUP-1") == "CUP-1"
    assert store.resolve_sku("ebay", "STOCKED-ONLY") == "STOCKED-ONLY"
    assert store.resolve_sku("ebay", "NOPE") is None
    assert store.sku_tags(["MUG-1", "CUP-1", "NOPE"]) == {
        "MUG-1": frozenset({"fragile", "kitchen"}),
        "CUP-1": frozenset(),
    }
    assert store.channel_skus_for("amazon", "MUG-1") == ["AMZ-MUG"]


def test_catalog_reimport_replaces_what_a_row_states(store: Store) -> None:
    """Importing a SKU again replaces its tags and, for the channels the row names, its channel
    SKUs; channels it does not name keep theirs."""
    store.import_catalog(
        [
            {
                "sku": "MUG-1",
                "tags": ["a"],
                "channels": {
                    "amazon": {"channel_sku": "OLD"},
                    "shopify": {"channel_sku": "S1"},
                },
            }
        ]
    )
    store.import_catalog(
        [{"sku": "MUG-1", "tags": ["b"], "channels": {"amazon": {"channel_sku": "NEW"}}}]
    )
    assert store.resolve_sku("amazon", "OLD") is None
    assert store.resolve_sku("amazon", "NEW") == "MUG-1"
    assert store.resolve_sku("shopify", "S1") == "MUG-1"
    assert store.sku_tags(["MUG-1"]) == {"MUG-1": frozenset({"b"})}


def test_malformed_catalog_rows_import_nothing(store: Store) -> None:
    """A bad row is a ValueError naming it, and no row of that import is stored."""
    with pytest.raises(ValueError, match=r"rows\[1\]\.channels\['amazon'\]\.channel_sku"):
        store.import_catalog(
            [{"sku": "OK-1"}, {"sku": "BAD", "channels": {"amazon": {"channel_sku": ""}}}]
        )
    assert store.sku_tags(["OK-1"]) == {}


def test_concurrent_pullers_deliver_each_entry_exactly_once(clocked: tuple[Store, Clock]) -> None:
    """Eight adapters pulling and acking at once together receive every entry exactly once."""
    store, _ = clocked
    for n in range(120):
        store.enqueue_refund("amazon", f"RMA-{n}", {"n": n})
    received: list[int] = []
    lock = threading.Lock()

    def adapter() -> None:
        while entries := store.pull_outbox("amazon", ["refund"], limit=4, lease_seconds=600):
            with lock:
                received.extend(int(e.payload["n"]) for e in entries)
            store.ack_outbox([e.outbox_id for e in entries])

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(adapter) for _ in range(8)]:
            future.result()
    assert sorted(received) == list(range(120))
