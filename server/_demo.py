"""``sortyard demo``: route a few hundred realistic orders end to end, on a throwaway database.

Everything is real except the orders' origin: a temporary SQLite store, the example network (six
US sites in four time zones) and stock, a gRPC server on a free loopback port, RouteBatch calls
through a client channel, and then the life after routing: a customer cancels, a warehouse
cancels what it cannot ship (re-routed), the simulated warehouses take their pick lists, ship them
(one in two packages) and the carrier delivers; a few buyers return items, which are received
(some sellable, some damaged), restocked or written off and refunded by the policy; the returns
report; and the store's invariant check at the end. Orders are generated from a seed against a
clock the demo moves forward by itself, so two runs print the same thing.
"""

from __future__ import annotations

import datetime as dt
import io
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
    returns_service_pb2,
    returns_service_pb2_grpc,
    routing_service_pb2,
    types_pb2,
)

from server import _report
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
# Amazon orders enter through the Amazon adapter and its sandbox at the end of the demo (tracking
# for an Amazon order must match an order Amazon knows); generated orders are the other channels.
_CHANNELS = (("shopify", 0.5), ("storefront", 0.3), ("walmart", 0.2))
_LEVELS = (
    (types_pb2.STANDARD, 0.55),
    (types_pb2.EXPEDITED, 0.14),
    (types_pb2.SECOND_DAY, 0.12),
    (types_pb2.NEXT_DAY, 0.08),
    (types_pb2.FREE_ECONOMY, 0.08),
    (types_pb2.SAME_DAY, 0.03),
)
_ORDER_ID_PREFIX = {"shopify": "#", "storefront": "SF-", "walmart": "WM-"}


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
        channel="shopify",
        channel_order_id="#SHOWCASE-NEXTDAY",
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


class _DemoClock:
    """The server's clock during the demo: it starts at DEMO_NOW and the demo moves it (ship in
    hours, deliver in days, return a week later) so the history and the report have real times."""

    def __init__(self) -> None:
        self.now = DEMO_NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


# (Amazon return reason code, condition the warehouse finds), cycled over the returned orders.
_RETURNS = (
    ("CR-DEFECTIVE", returns_service_pb2.ITEM_CONDITION_DEFECTIVE),
    ("CR-UNWANTED_ITEM", returns_service_pb2.ITEM_CONDITION_SELLABLE),
    ("CR-DAMAGED_BY_CARRIER", returns_service_pb2.ITEM_CONDITION_CARRIER_DAMAGED),
    ("AMZ-PG-BAD-DESC", returns_service_pb2.ITEM_CONDITION_SELLABLE),
    ("CR-UNWANTED_ITEM", returns_service_pb2.ITEM_CONDITION_CUSTOMER_DAMAGED),
    ("CR-SWITCHEROO", returns_service_pb2.ITEM_CONDITION_WRONG_ITEM),
    ("CR-DEFECTIVE", returns_service_pb2.ITEM_CONDITION_SELLABLE),
    ("CR-UNWANTED_ITEM", returns_service_pb2.ITEM_CONDITION_SELLABLE),
)


@dataclass
class _Lifecycle:
    rerouted: str
    released: int
    packages: int
    partial: str
    delivered: int
    returns: int
    report: _report.ReturnsReport


def _run_lifecycle(
    channel: grpc.Channel,
    api: ApiStubs,
    clock: _DemoClock,
    responses: Sequence[routing_service_pb2.RouteResponse],
    cancelled_order_id: str,
) -> _Lifecycle:
    """Warehouse cancel, release, ship, deliver, return, receive, refund: all through the API."""
    fulfillment = api.fulfillment
    returns = returns_service_pb2_grpc.ReturnsServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
    live = [
        fo for r in responses if r.order_id != cancelled_order_id for fo in r.fulfillment_orders
    ]
    # A warehouse cannot ship one fulfillment order: its lines are routed again elsewhere.
    victim = live[len(live) // 2]
    outcome = fulfillment.CancelFulfillmentOrder(
        fulfillment_service_pb2.CancelFulfillmentOrderRequest(
            fulfillment_order_id=victim.fulfillment_order_id, reason="conveyor down"
        ),
        timeout=RPC_TIMEOUT,
    ).outcome
    moved_to = ", ".join(sorted({fo.warehouse_id for fo in outcome.new_fulfillment_orders}))
    rerouted = (
        f"{victim.warehouse_id} cancelled {victim.fulfillment_order_id}; re-routed to {moved_to}"
        if moved_to
        else f"{victim.warehouse_id} cancelled {victim.fulfillment_order_id}; held: "
        f"{outcome.hold_reason}"
    )

    # Each warehouse takes everything due (its pick lists), ships it, the carrier delivers.
    clock.advance(hours=1)
    warehouses = sorted({fo.warehouse_id for fo in live} | {moved_to} - {""})
    picks: list[fulfillment_service_pb2.PickList] = []
    for warehouse_id in warehouses:
        fulfillment.ReleaseFulfillmentOrders(
            fulfillment_service_pb2.ReleaseFulfillmentOrdersRequest(warehouse_id=warehouse_id),
            timeout=RPC_TIMEOUT,
        )
        picks.extend(
            fulfillment.ListReleased(
                fulfillment_service_pb2.ListReleasedRequest(warehouse_id=warehouse_id),
                timeout=RPC_TIMEOUT,
            ).pick_lists
        )
    clock.advance(hours=4)
    packages = 0
    partial = ""
    for n, pick in enumerate(picks):
        fid = pick.fulfillment_order.fulfillment_order_id
        first = pick.lines[0]
        if not partial and first.quantity > 1:  # one order leaves in two boxes
            fulfillment.ConfirmShipment(
                fulfillment_service_pb2.ConfirmShipmentRequest(
                    fulfillment_order_id=fid,
                    carrier="UPS",
                    tracking_number=f"1Z999AA1{n:08d}A",
                    lines=[types_pb2.FulfillmentLine(line_id=first.line_id, quantity=1)],
                ),
                timeout=RPC_TIMEOUT,
            )
            packages += 1
            partial = f"{fid} shipped in two packages"
        fulfillment.ConfirmShipment(
            fulfillment_service_pb2.ConfirmShipmentRequest(
                fulfillment_order_id=fid, carrier="UPS", tracking_number=f"1Z999AA1{n:08d}"
            ),
            timeout=RPC_TIMEOUT,
        )
        packages += 1
    clock.advance(days=2)
    delivered: list[fulfillment_service_pb2.PickList] = []
    for n, pick in enumerate(picks):
        if n % 10 == 9:
            continue  # still in transit
        fulfillment.MarkDelivered(
            fulfillment_service_pb2.MarkDeliveredRequest(
                fulfillment_order_id=pick.fulfillment_order.fulfillment_order_id
            ),
            timeout=RPC_TIMEOUT,
        )
        delivered.append(pick)

    # A few buyers send something back a few days later.
    clock.advance(days=3)
    created: list[tuple[str, str, returns_service_pb2.ItemCondition]] = []
    for n, (reason, condition) in enumerate(_RETURNS):
        pick = delivered[(n * 7) % len(delivered)]
        fo = pick.fulfillment_order
        line = fo.lines[0]
        rma = returns.CreateReturn(
            returns_service_pb2.CreateReturnRequest(
                channel=fo.channel,
                channel_rma_id=f"RMA-{fo.fulfillment_order_id}",
                order_id=fo.order_id,
                lines=[returns_service_pb2.ReturnLine(line_id=line.line_id, quantity=1)],
                reason_code=reason,
                authorize=True,
            ),
            timeout=RPC_TIMEOUT,
        ).rma
        created.append((rma.return_id, fo.warehouse_id, condition))
        clock.advance(hours=6)
    clock.advance(days=2)
    for return_id, warehouse_id, condition in created[:-1]:  # the last one is still on its way
        returns.ReceiveReturn(
            returns_service_pb2.ReceiveReturnRequest(
                return_id=return_id,
                warehouse_id=warehouse_id,
                units=[
                    returns_service_pb2.ReceivedUnits(
                        line_id=_line_of(returns, return_id), quantity=1, condition=condition
                    )
                ],
            ),
            timeout=RPC_TIMEOUT,
        )
        clock.advance(hours=20)
    report = returns.ReturnsReport(
        returns_service_pb2.ReturnsReportRequest(
            group_by=returns_service_pb2.REPORT_GROUPING_REASON
        ),
        timeout=RPC_TIMEOUT,
    )
    return _Lifecycle(
        rerouted=rerouted,
        released=len(picks),
        packages=packages,
        partial=partial,
        delivered=len(delivered),
        returns=len(created),
        report=_report.from_proto(report),
    )


def _line_of(returns: object, return_id: str) -> str:
    stub = cast(returns_service_pb2_grpc.ReturnsServiceStub, returns)
    found = stub.GetReturn(
        returns_service_pb2.GetReturnRequest(return_id=return_id), timeout=RPC_TIMEOUT
    )
    return str(found.rma.lines[0].line_id)


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
        clock = _DemoClock()
        with start_server(db_url, "127.0.0.1:0", clock=clock) as running:
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

                # A customer cancels before anything ships.
                cancellable = next(r for r in responses if r.fulfillment_orders)
                cancelled = fulfillment.CancelOrder(
                    fulfillment_service_pb2.CancelOrderRequest(order_id=cancellable.order_id),
                    timeout=RPC_TIMEOUT,
                )
                lifecycle = _run_lifecycle(channel, api, clock, responses, cancellable.order_id)

            # The Amazon loop: a local SP-API sandbox, the adapter (through the real SP-API
            # client), a simulated warehouse shipping what was routed, tracking and quantities back.
            # Imported here: the demo composes the server with an adapter process's code; the
            # server itself never depends on adapters.
            from adapters.amazon import run_amazon_demo

            amazon = io.StringIO()
            run_amazon_demo(running.address, skus, amazon, seed=seed)
            problems = running.store.check_invariants()

    _print_summary(out, responses, cancellable, cancelled.units_released)
    _print_lifecycle(out, lifecycle)
    print(amazon.getvalue(), file=out, end="")
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


def _print_lifecycle(out: TextIO, lifecycle: _Lifecycle) -> None:
    report = lifecycle.report
    print(
        f"Warehouse cancel: {lifecycle.rerouted}.\n"
        f"Released {lifecycle.released} pick lists; shipped {lifecycle.packages} packages"
        f" ({lifecycle.partial}); {lifecycle.delivered} delivered, the rest in transit.\n"
        f"Returns: {lifecycle.returns} requested, {report.units_received} units received,"
        f" {report.units_restocked} restocked, {report.units_written_off} written off;"
        f" {report.refunded_returns} refunds sent to the channels.",
        file=out,
    )
    print("\nReturns report (by reason code):", file=out)
    print(_report.render(report, "table"), file=out, end="")


def _print_summary(
    out: TextIO,
    responses: Sequence[routing_service_pb2.RouteResponse],
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
        f"\nA customer cancelled order {cancelled.channel_order_id}"
        f" ({units_released} units released).",
        file=out,
    )
