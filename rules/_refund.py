"""Refund decisions: the facts of returned units in, a verdict out (pure; no I/O).

A policy's refund rules (``refund 100% when ...``, ``refund none``, ``manual review``; see
docs/rules.md) are tried in file order and the first whose condition holds decides. When none
matches, :func:`default_refund` does:

* units that come back ``sellable``, ``defective``, ``damaged`` or ``carrier_damaged``: full refund
  (the buyer is not at fault, and marketplaces expect a prompt full refund);
* ``customer_damaged`` or ``wrong_item`` (a different item came back): manual review.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rules import _ast as a

__all__ = [
    "MANUAL_REVIEW",
    "NONE",
    "PERCENT",
    "RefundFacts",
    "RefundVerdict",
    "decide_refund",
    "default_refund",
    "holds",
]

PERCENT = "percent"
NONE = "none"
MANUAL_REVIEW = "manual_review"

_REVIEW_CONDITIONS = frozenset({"customer_damaged", "wrong_item"})


@dataclass(frozen=True, slots=True)
class RefundFacts:
    """What the rules may ask about returned units (``return.reason`` and friends)."""

    reason: str  # the channel's reason code, e.g. CR-DEFECTIVE
    condition: str  # sellable, damaged, defective, customer_damaged, carrier_damaged, wrong_item
    channel: str
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class RefundVerdict:
    """``kind`` is ``percent`` (with ``percent``), ``none`` or ``manual_review``; ``rule`` names
    the refund rule that decided, or ``default``."""

    kind: str
    percent: int = 0
    rule: str = "default"


def default_refund(facts: RefundFacts) -> RefundVerdict:
    """The verdict when no refund rule matches (see the module doc)."""
    if facts.condition in _REVIEW_CONDITIONS:
        return RefundVerdict(MANUAL_REVIEW, 0, "default")
    return RefundVerdict(PERCENT, 100, "default")


def _value(facts: RefundFacts, field: a.Field) -> Any:
    # The checker allows only return.* fields in refund rules.
    return getattr(facts, field.path[-1])


def _literal(value: a.Value) -> Any:
    return value.value


def holds(cond: a.Cond, facts: RefundFacts) -> bool:
    """Whether ``cond`` (a checked refund-rule condition) holds for these returned units."""
    if isinstance(cond, a.And):
        return all(holds(c, facts) for c in cond.operands)
    if isinstance(cond, a.Or):
        return any(holds(c, facts) for c in cond.operands)
    if isinstance(cond, a.Not):
        return not holds(cond.operand, facts)
    if isinstance(cond, a.Group):
        return holds(cond.inner, facts)
    if not isinstance(cond, a.Compare):
        raise ValueError(f"a refund rule cannot use {type(cond).__name__}")  # checker refuses
    left = _value(facts, cond.field)
    operand = cond.operand
    if isinstance(operand, a.ListValue):
        found = left in [_literal(v) for v in operand.items]
        return found if cond.op == "in" else not found
    if isinstance(operand, tuple):
        low, high = (_literal(v) for v in operand)
        return bool(low <= left <= high)
    right = _literal(operand)
    if cond.op == "matches":
        return fnmatch.fnmatchcase(str(left), str(right))
    if cond.op == "starts with":
        return str(left).startswith(str(right))
    comparisons = {
        "==": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }
    return bool(comparisons[cond.op])


def _name(refund: a.Refund) -> str:
    if refund.kind == "percent":
        assert refund.percent is not None
        what = f"refund {refund.percent.text}%"
    else:
        what = "refund none" if refund.kind == "none" else "manual review"
    return f"line {refund.span.line}: {what}"


def decide_refund(refunds: Sequence[a.Refund], facts: RefundFacts) -> RefundVerdict:
    """The first refund statement whose condition holds (file order), else the default."""
    for refund in refunds:
        if refund.when is None or holds(refund.when, facts):
            if refund.kind == "percent":
                assert refund.percent is not None
                return RefundVerdict(PERCENT, refund.percent.as_int(), _name(refund))
            return RefundVerdict(refund.kind, 0, _name(refund))
    return default_refund(facts)
