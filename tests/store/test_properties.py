"""Property: no sequence of syncs, routes, cancels and shipments breaks the stock invariants."""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from server.store import InvalidStateError, Store
from tests.store.helpers import NETWORK, NOW, WAREHOUSES, make_order, record, route

SKUS = ["A", "B"]
WAREHOUSE_IDS = list(NETWORK.warehouse_ids[:2])
Cell = tuple[str, str]

lines = st.lists(
    st.tuples(st.sampled_from(SKUS), st.integers(1, 4)),
    min_size=1,
    max_size=2,
    unique_by=lambda x: x[0],
)


class StoreMachine(RuleBasedStateMachine):
    """A model of on_hand, reserved and fulfillment-order states, checked against the store after
    every step: on_hand changes only by syncs and shipments, reserved only by routes, cancels and
    shipments, and the store's own invariant check stays clean."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="sortyard-prop-")
        self.store = Store.open(f"sqlite:///{self.directory}/p.db")
        self.store.put_warehouses(WAREHOUSES)
        self.on_hand: dict[Cell, int] = defaultdict(int)
        self.reserved: dict[Cell, int] = defaultdict(int)
        self.fo_state: dict[str, str] = {}
        self.fo_cells: dict[str, dict[Cell, int]] = {}
        self.order_fos: dict[str, tuple[str, ...]] = {}
        self.cancelled: set[str] = set()
        self.next_order = 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    @rule(w=st.sampled_from(WAREHOUSE_IDS), sku=st.sampled_from(SKUS), units=st.integers(0, 8))
    def sync(self, w: str, sku: str, units: int) -> None:
        result = self.store.sync([(w, sku, units)])
        self.on_hand[w, sku] = units
        short = {(s.warehouse_id, s.sku): s.short_by for s in result.shortfalls}
        expected = self.reserved[w, sku] - units
        assert short == ({(w, sku): expected} if expected > 0 else {})

    @rule(
        batch=st.lists(st.one_of(lines, st.none()), min_size=1, max_size=3),
        channel=st.sampled_from(["amazon", "shopify"]),
    )
    def route(self, batch: list[list[tuple[str, int]] | None], channel: str) -> None:
        orders = []
        for spec in batch:
            if spec is None and self.next_order:  # a retry of an earlier order
                orders.append(make_order(f"o{self.next_order - 1}", ("A", 1), channel=channel))
            else:
                self.next_order += 1
                orders.append(
                    make_order(f"o{self.next_order - 1}", *(spec or [("A", 1)]), channel=channel)
                )
        for result in route(self.store, *(record(o) for o in orders)):
            assert result.error is None and result.decision is not None
            if result.replayed:
                if result.order_id in self.order_fos:
                    assert result.fulfillment_order_ids == self.order_fos[result.order_id]
                continue
            self.order_fos[result.order_id] = result.fulfillment_order_ids
            for fid, shipment in zip(
                result.fulfillment_order_ids, result.decision.shipments, strict=True
            ):
                cells: dict[Cell, int] = defaultdict(int)
                for a in shipment.lines:
                    cells[shipment.warehouse_id, a.sku] += a.quantity
                    self.reserved[shipment.warehouse_id, a.sku] += a.quantity
                self.fo_state[fid] = "RESERVED"
                self.fo_cells[fid] = dict(cells)

    @precondition(lambda self: bool(self.order_fos))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.order_fos)))
        fos = self.order_fos[order_id]
        if (
            order_id not in self.cancelled
            and fos
            and all(self.fo_state[f] == "SHIPPED" for f in fos)
        ):
            try:
                self.store.cancel_order(order_id)
            except InvalidStateError:
                return
            raise AssertionError("cancelling a shipped order must fail")
        result = self.store.cancel_order(order_id)
        released = 0
        if order_id not in self.cancelled:
            for fid in fos:
                if self.fo_state[fid] == "RESERVED":
                    self.fo_state[fid] = "CANCELLED"
                    for cell, n in self.fo_cells[fid].items():
                        self.reserved[cell] -= n
                        released += n
            self.cancelled.add(order_id)
        assert result.units_released == released

    @precondition(lambda self: bool(self.fo_state))
    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        fid = data.draw(st.sampled_from(sorted(self.fo_state)))
        state = self.fo_state[fid]
        cells = self.fo_cells[fid]
        can_ship = all(self.on_hand[c] >= n for c, n in cells.items())
        if state == "CANCELLED" or (state == "RESERVED" and not can_ship):
            try:
                self.store.confirm_shipment(fid, "UPS", f"T-{fid}", NOW)
            except InvalidStateError:
                return
            raise AssertionError(f"confirming {state} {fid} must fail")
        _, already = self.store.confirm_shipment(fid, "UPS", f"T-{fid}", NOW)
        assert already == (state == "SHIPPED")
        if state == "RESERVED":
            self.fo_state[fid] = "SHIPPED"
            for cell, n in cells.items():
                self.on_hand[cell] -= n
                self.reserved[cell] -= n

    @invariant()
    def stock_matches_the_model_and_the_store_is_consistent(self) -> None:
        assert self.store.check_invariants(allow_shortfall=True) == []
        table = self.store.load_stock(SKUS, NETWORK)
        for i, sku in enumerate(table.skus):
            for j, w in enumerate(NETWORK.warehouse_ids):
                assert int(table.on_hand[i, j]) == self.on_hand[w, sku]
                assert int(table.reserved[i, j]) == self.reserved[w, sku]
                if table.reserved[i, j] > table.on_hand[i, j]:
                    # Only a sync can put a cell short, and only below what was reserved then.
                    assert self.on_hand[w, sku] < self.reserved[w, sku]


StoreMachine.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStoreInvariants = StoreMachine.TestCase
