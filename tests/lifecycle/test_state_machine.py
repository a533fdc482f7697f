"""The lifecycle state machines as tables: every legal move is allowed and every other refused."""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from server.store import (
    FULFILLMENT_TRANSITIONS,
    ORDER_TRANSITIONS,
    RETURN_TRANSITIONS,
    FulfillmentState,
    InvalidStateError,
    OrderState,
    ReturnState,
)
from server.store._lifecycle import derive_order_state, is_allowed, transition

TABLES: dict[str, Mapping[Any, frozenset[Any]]] = {
    "order": ORDER_TRANSITIONS,
    "fulfillment": FULFILLMENT_TRANSITIONS,
    "return": RETURN_TRANSITIONS,
}


def _pairs(legal: bool) -> list[Any]:
    out = []
    for name, table in TABLES.items():
        states = list(table)
        for current, target in itertools.product(states, states):
            if (target in table[current]) == legal:
                out.append(pytest.param(current, target, id=f"{name}:{current}->{target}"))
    return out


@pytest.mark.parametrize(("current", "target"), _pairs(legal=True))
def test_every_legal_transition_is_allowed(current: enum.StrEnum, target: enum.StrEnum) -> None:
    """Each move listed in a table is accepted and lands in the target state."""
    assert is_allowed(current, target)
    assert transition("thing", current, target) is target


@pytest.mark.parametrize(("current", "target"), _pairs(legal=False))
def test_every_illegal_transition_names_the_current_state(
    current: enum.StrEnum, target: enum.StrEnum
) -> None:
    """Each move not in a table raises InvalidStateError (FAILED_PRECONDITION at the API) whose
    message and ``state`` name the state the object is in."""
    with pytest.raises(InvalidStateError) as caught:
        transition("fulfillment order x-1", current, target)
    assert caught.value.state == current.value
    assert f"is {current.value}" in str(caught.value)
    assert target.value in str(caught.value)


def test_tables_cover_every_state_and_terminal_states_are_final() -> None:
    """Every state of each machine has a row, and the end states (delivered, cancelled,
    refunded) lead nowhere."""
    assert set(ORDER_TRANSITIONS) == set(OrderState)
    assert set(FULFILLMENT_TRANSITIONS) == set(FulfillmentState)
    assert set(RETURN_TRANSITIONS) == set(ReturnState)
    assert ORDER_TRANSITIONS[OrderState.DELIVERED] == frozenset()
    assert ORDER_TRANSITIONS[OrderState.CANCELLED] == frozenset()
    assert FULFILLMENT_TRANSITIONS[FulfillmentState.CANCELLED] == frozenset()
    assert RETURN_TRANSITIONS[ReturnState.REFUNDED] == frozenset()


def test_states_of_different_machines_do_not_mix() -> None:
    """Asking about an order state against a fulfillment state is a programming error."""
    with pytest.raises(TypeError):
        is_allowed(OrderState.ROUTED, FulfillmentState.RELEASED)


F = FulfillmentState


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([F.RESERVED, F.RESERVED], OrderState.ROUTED),
        ([F.RELEASED, F.RESERVED], OrderState.RELEASED),
        ([F.RELEASED], OrderState.RELEASED),
        ([F.PARTIALLY_SHIPPED], OrderState.PARTIALLY_SHIPPED),
        ([F.SHIPPED, F.RESERVED], OrderState.PARTIALLY_SHIPPED),
        ([F.SHIPPED, F.CANCELLED], OrderState.SHIPPED),
        ([F.SHIPPED, F.DELIVERED], OrderState.SHIPPED),
        ([F.DELIVERED, F.DELIVERED], OrderState.DELIVERED),
        ([F.CANCELLED], OrderState.HELD),
        ([], OrderState.HELD),
    ],
)
def test_order_state_follows_its_fulfillment_orders(
    states: list[FulfillmentState], expected: OrderState
) -> None:
    """An order is as far along as its fulfillment orders together (cancelled ones ignored; with
    none left, the fallback)."""
    assert derive_order_state(states, fallback=OrderState.HELD) == expected
