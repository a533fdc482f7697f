"""Invariants of compiled policies, checked by Hypothesis through engine.Router with commit=True
(later orders of a batch see the stock earlier ones took)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from rules import RuleSet
from tests.rules.helpers import NOW, network, order, stock_of

WAREHOUSES = list(network().warehouse_ids)
SKUS = ["MUG", "TEE"]
COMMON = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

stock_levels = st.dictionaries(
    st.tuples(st.sampled_from(WAREHOUSES), st.sampled_from(SKUS)),
    st.integers(0, 12),
    min_size=1,
)
orders = st.lists(
    st.tuples(
        st.sampled_from(["amazon", "shopify", "ebay"]),
        st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 8)), min_size=1, max_size=2),
    ),
    min_size=1,
    max_size=12,
)
amounts = st.one_of(
    st.integers(0, 100).map(lambda p: f"{p}%"), st.integers(0, 15).map(lambda u: f"{u} units")
)


def build(batch: list[tuple[str, list[tuple[str, int]]]]) -> list[engine.Order]:
    return [
        order(*lines, channel=channel, order_id=f"o{i}") for i, (channel, lines) in enumerate(batch)
    ]


@COMMON
@given(levels=stock_levels, batch=orders, amount=amounts, split=st.booleans())
def test_other_channels_never_consume_reserved_units(
    levels: dict[tuple[str, str], int],
    batch: list[tuple[str, list[tuple[str, int]]]],
    amount: str,
    split: bool,
) -> None:
    """Per (sku, warehouse): units taken by channels other than amazon never exceed on-hand minus
    amazon's reserve, and nothing is ever over-allocated."""
    source = f'reserve {amount} for "amazon"\n' + ("" if split else 'rule "r"\n  no line split\n')
    policy = RuleSet.compile(source)
    stock = stock_of(levels, SKUS)
    on_hand = stock.on_hand.copy()
    gross = policy.channel_reserves(stock.skus, on_hand, NOW, {})["amazon"]
    decisions = engine.Router(network(), policy).route(build(batch), stock, now=NOW)
    taken_by_others = np.zeros_like(on_hand)
    for the_order, decision in zip(build(batch), decisions, strict=True):
        for shipment in decision.shipments:
            for allocation in shipment.lines:
                cell = (stock.row_of(allocation.sku), network().index_of(shipment.warehouse_id))
                if the_order.channel != "amazon":
                    taken_by_others[cell] += allocation.quantity
    assert (taken_by_others <= np.maximum(on_hand - gross, 0)).all()
    assert (stock.reserved <= on_hand).all()


@COMMON
@given(
    levels=stock_levels,
    batch=orders,
    excluded=st.lists(st.sampled_from(WAREHOUSES), min_size=1, max_size=4, unique=True),
    channel=st.sampled_from(["amazon", "shopify"]),
    prefer=st.sampled_from(WAREHOUSES),
)
def test_an_excluded_warehouse_is_never_chosen(
    levels: dict[tuple[str, str], int],
    batch: list[tuple[str, list[tuple[str, int]]]],
    excluded: list[str],
    channel: str,
    prefer: str,
) -> None:
    """Orders an exclude rule matches never ship from an excluded warehouse, even one that a
    prefer rule pushes to the top."""
    ids = ", ".join(f'"{w}"' for w in excluded)
    source = (
        f'rule "x"\n  when order.channel == "{channel}"\n  exclude warehouses [{ids}]\n'
        f'rule "p"\n  prefer warehouse "{prefer}" by 10000 km\n'
    )
    orders_ = build(batch)
    decisions = engine.Router(network(), RuleSet.compile(source)).route(
        orders_, stock_of(levels, SKUS), now=NOW
    )
    for the_order, decision in zip(orders_, decisions, strict=True):
        if the_order.channel == channel:
            assert not {s.warehouse_id for s in decision.shipments} & set(excluded)


@COMMON
@given(levels=stock_levels, batch=orders, threshold=st.integers(1, 10))
def test_a_hold_never_allocates(
    levels: dict[tuple[str, str], int],
    batch: list[tuple[str, list[tuple[str, int]]]],
    threshold: int,
) -> None:
    """Held orders get no shipments and reserve nothing: the stock's reservations equal the
    allocations of the orders that were not held."""
    source = f'rule "big"\n  when order.total_quantity > {threshold}\n  hold "too big"\n'
    orders_ = build(batch)
    stock = stock_of(levels, SKUS)
    decisions = engine.Router(network(), RuleSet.compile(source)).route(orders_, stock, now=NOW)
    allocated = 0
    for the_order, decision in zip(orders_, decisions, strict=True):
        total = sum(line.quantity for line in the_order.lines)
        if total > threshold:
            assert decision.status is engine.RouteStatus.HELD
            assert decision.shipments == () and decision.hold is not None
            assert (decision.hold.reason, decision.hold.rule) == ("too big", "big")
        else:
            assert decision.status is not engine.RouteStatus.HELD
        allocated += sum(a.quantity for s in decision.shipments for a in s.lines)
    assert int(stock.reserved.sum()) == allocated
