"""The typed syntax tree of a rules file: frozen dataclasses, each with its source span.

Groups (parentheses the author wrote) are kept as nodes so the formatter prints them back; they have
no meaning of their own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal as TypingLiteral

__all__ = [
    "Action",
    "AllLines",
    "Amount",
    "And",
    "AnyLine",
    "Comment",
    "Compare",
    "Cond",
    "DefaultMaxShipments",
    "Exclude",
    "Field",
    "Group",
    "HandlingCost",
    "Hold",
    "ListValue",
    "MaxShipments",
    "NoLineSplit",
    "Not",
    "Optimize",
    "Or",
    "PolicyFile",
    "Prefer",
    "Rank",
    "Refund",
    "Require",
    "Reserve",
    "Rule",
    "SafetyStock",
    "ShipComplete",
    "ShippingCost",
    "SkuScope",
    "Span",
    "Statement",
    "Target",
    "Timezone",
    "Truthy",
    "Value",
]


@dataclass(frozen=True, slots=True)
class Span:
    """1-based line and column of the first character, and of the character after the last."""

    line: int
    column: int
    end_line: int
    end_column: int


ValueKind = TypingLiteral["string", "integer", "decimal", "date", "time", "bool"]


@dataclass(frozen=True, slots=True)
class Value:
    kind: ValueKind
    value: str | int | float | dt.date | dt.time | bool
    text: str  # as written, for the formatter
    span: Span

    # Typed views; the checker has already ensured the kind, so a mismatch is a bug.
    def as_int(self) -> int:
        assert isinstance(self.value, int) and not isinstance(self.value, bool), self
        return self.value

    def as_float(self) -> float:
        assert isinstance(self.value, int | float) and not isinstance(self.value, bool), self
        return float(self.value)

    def as_date(self) -> dt.date:
        assert isinstance(self.value, dt.date), self
        return self.value

    def as_time(self) -> dt.time:
        assert isinstance(self.value, dt.time), self
        return self.value


@dataclass(frozen=True, slots=True)
class ListValue:
    items: tuple[Value, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Field:
    path: tuple[str, ...]  # ("order", "ship_to", "state")
    key: str | None  # order.attributes["po_box"] -> "po_box"
    span: Span

    @property
    def name(self) -> str:
        text = ".".join(self.path)
        return text if self.key is None else f'{text}["{self.key}"]'


CompareOp = TypingLiteral[
    "==", "!=", "<", "<=", ">", ">=", "in", "not in", "matches", "starts with", "contains",
    "between", "before", "after",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Compare:
    field: Field
    op: CompareOp
    # one Value; a ListValue for in / not in; two Values for between
    operand: Value | ListValue | tuple[Value, Value]
    span: Span


@dataclass(frozen=True, slots=True)
class Truthy:
    """A boolean field used as a condition on its own: ``warehouse.ships_today``."""

    field: Field
    span: Span


@dataclass(frozen=True, slots=True)
class And:
    """``a and b and c``: flat, so a long chain does not nest (nor recurse when evaluated)."""

    operands: tuple[Cond, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Cond, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    operand: Cond
    span: Span


@dataclass(frozen=True, slots=True)
class Group:
    inner: Cond
    span: Span


@dataclass(frozen=True, slots=True)
class AnyLine:
    cond: Cond
    span: Span


@dataclass(frozen=True, slots=True)
class AllLines:
    cond: Cond
    span: Span


Cond = Compare | Truthy | And | Or | Not | Group | AnyLine | AllLines


@dataclass(frozen=True, slots=True)
class Target:
    """Which warehouses an action names."""

    kind: TypingLiteral["ids", "tagged", "where"]
    ids: tuple[Value, ...] = ()
    tag: Value | None = None
    cond: Cond | None = None
    single: bool = False  # written as ``warehouse "X"`` rather than ``warehouses [...]``
    span: Span = Span(0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Exclude:
    target: Target
    span: Span


@dataclass(frozen=True, slots=True)
class Require:
    target: Target
    span: Span


@dataclass(frozen=True, slots=True)
class Prefer:
    target: Target
    bonus_km: Value
    span: Span


@dataclass(frozen=True, slots=True)
class Hold:
    reason: Value
    span: Span


@dataclass(frozen=True, slots=True)
class MaxShipments:
    count: Value
    span: Span


@dataclass(frozen=True, slots=True)
class ShipComplete:
    span: Span


@dataclass(frozen=True, slots=True)
class NoLineSplit:
    span: Span


Action = Exclude | Require | Prefer | Hold | MaxShipments | ShipComplete | NoLineSplit


@dataclass(frozen=True, slots=True)
class Rule:
    name: Value
    priority: Value | None
    when: Cond | None
    line_scope: Cond | None
    actions: tuple[Action, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Amount:
    """``20%`` or ``5 units``."""

    unit: TypingLiteral["percent", "units"]
    value: Value
    unit_text: str  # "units" or "unit" as written ("" for percent)
    span: Span


@dataclass(frozen=True, slots=True)
class SkuScope:
    kind: TypingLiteral["matching", "tagged"]
    pattern: Value
    span: Span


@dataclass(frozen=True, slots=True)
class Reserve:
    amount: Amount
    skus: SkuScope | None
    channel: Value
    window: tuple[Value, Value] | None
    span: Span


@dataclass(frozen=True, slots=True)
class SafetyStock:
    amount: Amount
    skus: SkuScope | None
    channel: Value
    span: Span


@dataclass(frozen=True, slots=True)
class DefaultMaxShipments:
    count: Value
    span: Span


@dataclass(frozen=True, slots=True)
class Rank:
    kind: TypingLiteral["distance", "priority", "cost"]
    order: ListValue | None
    span: Span


@dataclass(frozen=True, slots=True)
class Optimize:
    shipment_weight: Value
    km_weight: Value
    span: Span


@dataclass(frozen=True, slots=True)
class Timezone:
    name: Value
    span: Span


@dataclass(frozen=True, slots=True)
class ShippingCost:
    per_km: Value
    span: Span


@dataclass(frozen=True, slots=True)
class HandlingCost:
    cost: Value
    target: Target
    span: Span


@dataclass(frozen=True, slots=True)
class Refund:
    """``refund 50% when ...``, ``refund none``, ``manual review``: a refund decision for
    returned units, tried in file order (the first whose condition holds decides)."""

    kind: TypingLiteral["percent", "none", "manual_review"]
    percent: Value | None
    when: Cond | None
    span: Span


Statement = (
    Rule
    | Reserve
    | SafetyStock
    | DefaultMaxShipments
    | Rank
    | Optimize
    | Timezone
    | ShippingCost
    | HandlingCost
    | Refund
)


@dataclass(frozen=True, slots=True)
class Comment:
    text: str  # including the leading '#'
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class PolicyFile:
    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...]
    source: str
    file_name: str
