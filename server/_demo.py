"""``sortyard demo``: route a few hundred realistic orders end to end, on a throwaway database.

Everything is real except the orders' origin: a temporary SQLite store, the example network (six
US sites in four time zones) and stock, a gRPC server on a free loopback port, RouteBatch calls
through a client channel, shipments confirmed and an order cancelled through FulfillmentService,
and the store's invariant check at the end. Orders are generated from a seed against a fixed
clock, so two runs print the same thing.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, cast

import grpc
from sortyard.v1 import (
    fulfillment_service_pb2,
    inventory_service_pb2,
    network_service_pb2,
    routing_service_pb2,
    types_pb2,
)

from server._app import start_server
from server._files import load_network, load_stock
from server._render import render_route_response, render_table
from server._stubs import ApiStubs

__all__ = ["DEMO_NOW", "EXAMPLES", "generate_orders", "run_demo"]

EXAMPLES = Path(__file__).resolve().parent / "examples"
# A Tuesday, 10:00 in New York: some cutoffs are still ahead today, the early ones have passed.
DEMO_NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
BATCH_SIZE = 100
RPC_TIMEOUT = 60.0

# Real ZIP codes of US population centres, weighted roughly by metro population (millions).
_ZIPS: tuple[tuple[str, float], ...] = (
    ("10001", 19.5), ("90011", 13.0), ("60629", 9.4), ("75217", 7.6), ("77084", 7.1),
    ("20011", 6.3), ("33012", 6.1), ("19120", 6.2), ("30044", 6.1), ("85032", 4.9),
    ("02124", 4.9), ("94110", 4.7), ("92154", 3.3), ("48228", 4.3), ("98103", 4.0),
    ("55407", 3.7), ("80219", 2.9), ("63116", 2.8), ("21215", 2.8), ("78245", 2.6),
    ("97206", 2.5), ("95823", 2.4), ("89123", 2.3), ("43215", 2.1), ("46227", 2.1),
    ("64118", 2.2), ("28269", 2.7), ("78701", 2.4), ("95123", 2.0), ("37013", 2.0),
    ("53215", 1.6), ("32210", 1.7), ("73160", 1.4), ("40214", 1.3), ("70119", 1.3),
    ("38109", 1.3), ("27610", 1.4), ("84118", 1.3), ("15212", 2.4), ("45238", 2.3),
    ("87121", 0.9), ("85710", 1.1), ("93722", 1.0),
)  # fmt: skip
_CHANNELS = (("amazon", 0.5), ("shopify", 0.3), ("storefront", 0.2))
_LEVELS = (
    (types_pb2.STANDARD, 0.55),
    (types_pb2.EXPEDITED, 0.14),
    (types_pb2.SECOND_DAY, 0.12),
    (types_pb2.NEXT_DAY, 0.08),
    (types_pb2.FREE_ECONOMY, 0.08),
    (types_pb2.SAME_DAY, 0.03),
)
_ORDER_ID_PREFIX = {"amazon": "114-", "shopify": "#", "storefront": "SF-"}


def _pick(rng: random.Random, weighted: Sequence[tuple[object, float]]) -> object:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def generate_orders(
    count: int, seed: int, skus: Sequence[str]
) -> list[routing_service_pb2.RouteRequest]:
    """``count`` realistic orders; a few carry an unknown ZIP or SKU to show HELD."""
    rng = random.Random(seed)
    # Popularity falls off like a long tail: the first SKUs sell much more than the last.
    sku_weights = [(sku, 1.0 / (rank + 1) ** 0.8) for rank, sku in enumerate(skus)]
    requests: list[routing_service_pb2.RouteRequest] = []
    for n in range(count):
        channel = str(_pick(rng, _CHANNELS))
        line_count = rng.choices([1, 2, 3], weights=[0.74, 0.19, 0.07])[0]
        chosen: list[str] = []
        while len(chosen) < line_count:
            sku = str(_pick(rng, sku_weights))
            if sku not in chosen:
                chosen.append(sku)
        lines = [
            types_pb2.OrderLine(
                line_id=str(i + 1), sku=sku, quantity=rng.choices([1, 2, 3], [0.8, 0.15, 0.05])[0]
            )
            for i, sku in enumerate(chosen)
        ]
        postal_code = str(_pick(rng, _ZIPS))
        if n in (count // 3, (2 * count) // 3):
            postal_code = "00000"  # no such ZIP: the order is held, never guessed at
        if n == count // 2:
            lines[0].sku = "GIFTCARD-PHYSICAL"  # not in the catalogue: held
        number = 100_000 + rng.randrange(900_000)
        order = types_pb2.Order(
            channel=channel,
            channel_order_id=f"{_ORDER_ID_PREFIX[channel]}{number}-{n:04d}",
            lines=lines,
            ship_to=types_pb2.Address(postal_code=postal_code, country_code="US"),
            service_level=cast(types_pb2.ServiceLevel, _pick(rng, _LEVELS)),
        )
        order.purchased_at.FromDatetime(DEMO_NOW - dt.timedelta(minutes=rng.randrange(1, 240)))
        requests.append(
            routing_service_pb2.RouteRequest(order=order, request_id=f"demo-{seed}-{n}")
        )
    return requests


# Two hand-written orders whose decisions are worth reading: a split and an expedited one.
def _showcase_orders() -> list[routing_service_pb2.RouteRequest]:
    split = types_pb2.Order(
        channel="storefront",
        channel_order_id="SF-SHOWCASE-SPLIT",
        lines=[
            types_pb2.OrderLine(line_id="1", sku="LAMP-DESK-LED", quantity=8),
            types_pb2.OrderLine(line_id="2", sku="MUG-11OZ-WHT", quantity=2),
        ],
        ship_to=types_pb2.Address(postal_code="80219", country_code="US"),
        service_level=types_pb2.STANDARD,
    )
    next_day = types_pb2.Order(
        channel="amazon",
        channel_order_id="114-SHOWCASE-NEXTDAY",
        lines=[types_pb2.OrderLine(line_id="1", sku="CHARGER-65W", quantity=1)],
        ship_to=types_pb2.Address(postal_code="89123", country_code="US"),
        service_level=types_pb2.NEXT_DAY,
    )
    return [
        routing_service_pb2.RouteRequest(order=split, explain=True, request_id="demo-split"),
        routing_service_pb2.RouteRequest(order=next_day, explain=True, request_id="demo-nextday"),
    ]


@dataclass
class _Tally:
    statuses: Counter[str]
    split: int
    shipments: Counter[str]
    units: Counter[str]
    distances: list[float]


def _tally(responses: Sequence[routing_service_pb2.RouteResponse]) -> _Tally:
    tally = _Tally(Counter(), 0, Counter(), Counter(), [])
    for r in responses:
        tally.statuses[types_pb2.RouteStatus.Name(r.status)] += 1
        if len(r.fulfillment_orders) > 1:
            tally.split += 1
        for fo in r.fulfillment_orders:
            tally.shipments[fo.warehouse_id] += 1
            tally.units[fo.warehouse_id] += sum(line.quantity for line in fo.lines)
            tally.distances.append(fo.distance_km)
    return tally


def run_demo(*, orders: int = 300, seed: int = 7, out: TextIO) -> int:
    """Run the demo, print its summary to ``out``; 0 when the store's invariants hold."""
    started = time.perf_counter()
    # The demo prints its own summary; per-RPC JSON logs would bury it.
    logging.getLogger("sortyard").setLevel(logging.WARNING)
    warehouses = load_network(EXAMPLES / "network.toml")
    levels = load_stock(EXAMPLES / "stock.csv")
    skus = list(dict.fromkeys(level.sku for level in levels))
    requests = generate_orders(orders, seed, skus)

    with tempfile.TemporaryDirectory(prefix="sortyard-demo-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        with start_server(db_url, "127.0.0.1:0", clock=lambda: DEMO_NOW) as running:
            print(
                f"Sortyard demo: a real gRPC server on {running.address}, SQLite in {tmp}", file=out
            )
            with grpc.insecure_channel(running.address) as channel:
                api = ApiStubs.connect(channel)
                network, inventory = api.network, api.inventory
                routing, fulfillment = api.routing, api.fulfillment

                network.PutWarehouses(
                    network_service_pb2.PutWarehousesRequest(warehouses=warehouses),
                    timeout=RPC_TIMEOUT,
                )
                inventory.Sync(
                    inventory_service_pb2.SyncRequest(
                        levels=levels, request_id=f"demo-stock-{seed}"
                    ),
                    timeout=RPC_TIMEOUT,
                )
                units = sum(level.on_hand for level in levels)
                print(
                    f"Loaded {len(warehouses)} warehouses and {units:,} units of {len(skus)} SKUs;"
                    f" routing {orders} orders as of {DEMO_NOW:%a %Y-%m-%d %H:%M} UTC.\n",
                    file=out,
                )

                showcase = [routing.Route(r, timeout=RPC_TIMEOUT) for r in _showcase_orders()]
                responses: list[routing_service_pb2.RouteResponse] = []
                for start in range(0, len(requests), BATCH_SIZE):
                    batch = routing_service_pb2.RouteBatchRequest(
                        requests=requests[start : start + BATCH_SIZE]
                    )
                    responses.extend(routing.RouteBatch(batch, timeout=RPC_TIMEOUT).responses)

                # Warehouses confirm every third shipment; one customer cancels.
                fulfillment_orders = [fo for r in responses for fo in r.fulfillment_orders]
                confirmed = 0
                for n, fo in enumerate(fulfillment_orders[::3]):
                    shipped = fulfillment_service_pb2.ConfirmShipmentRequest(
                        fulfillment_order_id=fo.fulfillment_order_id,
                        carrier="UPS",
                        tracking_number=f"1Z999AA1{n:010d}",
                    )
                    shipped.shipped_at.FromDatetime(DEMO_NOW + dt.timedelta(hours=3))
                    fulfillment.ConfirmShipment(shipped, timeout=RPC_TIMEOUT)
                    confirmed += 1
                shipped_ids = {fo.fulfillment_order_id for fo in fulfillment_orders[::3]}
                cancellable = next(
                    r
                    for r in responses
                    if r.fulfillment_orders
                    and not {fo.fulfillment_order_id for fo in r.fulfillment_orders} & shipped_ids
                )
                cancelled = fulfillment.CancelOrder(
                    fulfillment_service_pb2.CancelOrderRequest(order_id=cancellable.order_id),
                    timeout=RPC_TIMEOUT,
                )

            problems = running.store.check_invariants()

    _print_summary(out, responses, confirmed, cancellable, cancelled.units_released)
    print("\nTwo decisions, explained:\n", file=out)
    for response in showcase:
        print(render_route_response(response), end="\n\n", file=out)
    if problems:
        print("invariants: VIOLATED", file=out)
        for problem in problems:
            print(f"  {problem}", file=out)
        return 1
    print(
        "invariants: OK  (0 ≤ reserved ≤ on_hand everywhere;"
        f" {time.perf_counter() - started:.1f} s)",
        file=out,
    )
    return 0


def _print_summary(
    out: TextIO,
    responses: Sequence[routing_service_pb2.RouteResponse],
    confirmed: int,
    cancelled: routing_service_pb2.RouteResponse,
    units_released: int,
) -> None:
    tally = _tally(responses)
    total = len(responses)
    print(f"Routed {total} orders through RouteBatch:", file=out)
    for name, label in (
        ("ROUTED", "routed in full"),
        ("PARTIALLY_ROUTED", "partially routed"),
        ("BACKORDERED", "backordered"),
        ("HELD", "held"),
        ("REJECTED", "rejected"),
    ):
        count = tally.statuses.get(name, 0)
        print(f"  {label:<18}{count:>5}  ({100 * count / max(total, 1):.0f} %)", file=out)
    print(f"  {'split (2+ sites)':<18}{tally.split:>5}", file=out)
    holds = Counter(r.hold_code for r in responses if r.status == types_pb2.HELD)
    if holds:
        print(
            "  held because: " + ", ".join(f"{c} × {n}" for c, n in sorted(holds.items())), file=out
        )
    mean = sum(tally.distances) / len(tally.distances) if tally.distances else 0.0
    print(f"\nShipments by warehouse (mean distance {mean:,.0f} km):", file=out)
    rows = [[w, str(tally.shipments[w]), str(tally.units[w])] for w in sorted(tally.shipments)]
    print(render_table(["warehouse", "shipments", "units"], rows), file=out)
    print(
        f"\nConfirmed {confirmed} shipments; cancelled order {cancelled.channel_order_id}"
        f" ({units_released} units released).",
        file=out,
    )
