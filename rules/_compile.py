"""Checked syntax tree → a :class:`engine.Policy` made of closures over numpy arrays.

Every condition compiles to a function that evaluates the WHOLE batch at once and returns a 2-D bool
array ``[rows, cols]`` where rows is 1 (the clock), ``n`` (orders) or ``L`` (lines) and cols is 1 or
``W`` (warehouses); numpy broadcasting combines them, and an order-level array joins a line-level
one by indexing with ``line_order``. Routing evaluates a rule's warehouse target on the orders the
rule hits only (a restricted :class:`Frame`), where order rows are those orders. Nothing is ever
``eval``-ed or ``exec``-ed.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from engine import Directives, Hold, Order, Policy, RoutingContext, ServiceLevel
from rules import _ast as a
from rules._diagnostics import Diagnostic
from rules._refund import RefundFacts, RefundVerdict, decide_refund
from rules._schema import FIELDS, Level

__all__ = ["CompiledPolicy", "compile_policy", "glob_regex"]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Row kinds of an evaluated condition: SCALAR has one row, ORDER n rows, LINE L rows.
SCALAR, ORDER, LINE = 0, 1, 2
Evaluated = tuple[npt.NDArray[Any], int]
Evaluator = Callable[["Frame"], Evaluated]

_DAY = np.timedelta64(86_400, "s")
_PRIORITY_STEP_KM = 1_000_000.0  # rank by priority: each place in the list outweighs any distance


def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*`` any run of characters, ``?`` one character, everything else literal (case-sensitive).

    Runs of ``*`` collapse to one, and the wildcard count is limited by the checker, so matching
    stays polynomial with a small exponent even on hostile patterns.
    """
    parts: list[str] = []
    for char in re.sub(r"\*+", "*", pattern):
        parts.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


class _Glob:
    """A glob with a bounded cache of answers per text (SKUs repeat across batches)."""

    __slots__ = ("_cache", "_regex")

    def __init__(self, pattern: str) -> None:
        self._regex = glob_regex(pattern)
        self._cache: dict[str, bool] = {}

    def __call__(self, text: str) -> bool:
        hit = self._cache.get(text)
        if hit is None:
            hit = self._regex.fullmatch(text) is not None
            if len(self._cache) < 200_000:
                self._cache[text] = hit
        return hit

    def over_skus(self, frame: Frame) -> BoolArray:
        unique, codes = frame.skus()
        # Cached answers in one C-level pass; the pattern runs only for SKUs not seen before.
        found = list(map(self._cache.get, unique))
        if None in found:
            found = [self(s) if hit is None else hit for s, hit in zip(unique, found, strict=True)]
        return np.array(found, dtype=np.bool_)[codes]

    def over(self, values: npt.NDArray[Any]) -> BoolArray:
        flat = values.ravel()
        if flat.size == 0:
            return np.zeros(values.shape, dtype=np.bool_)
        unique, inverse = np.unique(flat, return_inverse=True)
        answers = np.fromiter((self(str(u)) for u in unique), dtype=np.bool_, count=len(unique))
        return answers[inverse].reshape(values.shape)


class Frame:
    """One batch being evaluated: the context, plus columns extracted once and shared by rules.

    A frame can be *restricted* to some of the orders (:meth:`restrict`). Routing evaluates a
    rule's warehouse target on the orders the rule hits only: the per-(order, warehouse) fields
    (ship dates, delivery days) then cost ``[hit, W]`` work instead of ``[n, W]`` for a rule that
    concerns one order in ten. Order- and line-level columns are always built for the whole batch
    (on :attr:`full`, cached there and shared by every rule) and then narrowed with :meth:`pick`.
    """

    def __init__(self, ctx: RoutingContext, tz: zoneinfo.ZoneInfo) -> None:
        self.ctx = ctx
        self.n = len(ctx.orders)
        self.lines = len(ctx.line_sku)
        self.w = len(ctx.network.warehouse_ids)
        self.line_order = np.asarray(ctx.line_order, dtype=np.int64)
        self.local_now = ctx.now.astimezone(tz)
        self.full = self  # the unrestricted frame (itself, unless restricted)
        self.rows: IntArray | None = None  # the orders of a restricted frame; None: all of them
        self._columns: dict[str, npt.NDArray[Any]] = {}
        self._skus: tuple[list[str], IntArray] | None = None

    def restrict(self, rows: IntArray) -> Frame:
        """This batch seen through the orders ``rows`` (ascending): ORDER-kind values evaluated
        on the result have ``len(rows)`` rows."""
        view = copy.copy(self.full)  # shares the column cache: full-batch columns stay full-batch
        view.rows = rows
        view.n = len(rows)
        return view

    def pick(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The restricted orders' rows of a full-batch ``[n, ...]`` array."""
        return values if self.rows is None else values[self.rows]

    def skus(self) -> tuple[list[str], IntArray]:
        """The batch's distinct SKUs and, per line, the index of its SKU among them (computed once,
        so per-SKU work such as tags and patterns runs once per distinct SKU, not per line)."""
        full = self.full
        found = full._skus
        if found is None:
            line_sku = full.ctx.line_sku
            unique = list(dict.fromkeys(line_sku))
            index = dict(zip(unique, range(len(unique)), strict=True))
            codes = np.fromiter(map(index.__getitem__, line_sku), dtype=np.int64, count=full.lines)
            found = full._skus = (unique, codes)
        return found

    def column(self, key: str, build: Callable[[], npt.NDArray[Any]]) -> npt.NDArray[Any]:
        """A full-batch column, built once per batch (restricted frames share the cache)."""
        found = self._columns.get(key)
        if found is None:
            found = build()
            self._columns[key] = found
        return found

    def per_order_warehouse(
        self, key: str, build: Callable[[Frame], npt.NDArray[Any]]
    ) -> npt.NDArray[Any]:
        """An ``[n, W]`` field: cached on the full frame; on a restricted frame built for its
        rows only (every restricted frame is used for one target, so there is nothing to share)."""
        if self.rows is None:
            return self.column(key, lambda: build(self))
        return build(self)

    def to_rows(self, values: npt.NDArray[Any], kind: int, target: int) -> npt.NDArray[Any]:
        """Bring ``values`` of row kind ``kind`` to row kind ``target`` (ORDER → LINE by index)."""
        if kind in (target, SCALAR):
            return values
        if kind == ORDER and target == LINE and self.rows is None:
            return values[self.line_order]
        raise AssertionError(f"cannot bring rows of kind {kind} to {target}")  # pragma: no cover


def _text_column(values: list[Any]) -> npt.NDArray[Any]:
    """``np.array(values, dtype=np.str_)``, faster: given the width, numpy skips its own pass to
    find it (the same dtype: the longest length, at least 1)."""
    try:
        width = max(map(len, values), default=0)
    except TypeError:  # not all text: numpy's own conversion decides
        return np.array(values, dtype=np.str_)
    return np.array(values, dtype=f"<U{max(width, 1)}")


# Order text fields, read with one comprehension each (no call per order: with 50 rules over a
# large batch, a lambda per value cost as much as the numpy work it fed).
_ORDER_TEXT: dict[str, Callable[[Sequence[Order]], list[Any]]] = {
    "order.channel": lambda orders: [o.channel for o in orders],
    "order.channel_order_id": lambda orders: [o.channel_order_id for o in orders],
    "order.ship_to.country_code": lambda orders: [o.ship_to.country_code for o in orders],
    "order.ship_to.state": lambda orders: [o.ship_to.state for o in orders],
    "order.ship_to.postal_code": lambda orders: [o.ship_to.postal_code for o in orders],
    "order.ship_to.city": lambda orders: [o.ship_to.city for o in orders],
}


def _order_field(spec_name: str, key: str | None) -> Callable[[Frame], npt.NDArray[Any]]:
    """The field's ``[n]`` column over the whole batch (call it with a full frame)."""
    if spec_name in _ORDER_TEXT:
        read = _ORDER_TEXT[spec_name]
        return lambda frame: frame.column(spec_name, lambda: _text_column(read(frame.ctx.orders)))
    if spec_name == "order.attributes":
        assert key is not None
        return lambda frame: frame.column(
            f"attr:{key}",
            # Most orders carry no attributes: test for that before paying for a method call.
            lambda: _text_column(
                [o.attributes.get(key, "") if o.attributes else "" for o in frame.ctx.orders]
            ),
        )
    if spec_name == "order.service_level":
        return lambda frame: frame.column(
            spec_name,
            lambda: np.fromiter(
                (o.service_level for o in frame.ctx.orders), dtype=np.int64, count=frame.n
            ),
        )
    if spec_name == "order.total_quantity":

        def total(frame: Frame) -> npt.NDArray[Any]:
            quantity = np.asarray(frame.ctx.line_quantity, dtype=np.float64)
            return frame.column(
                spec_name,
                lambda: np.bincount(frame.line_order, weights=quantity, minlength=frame.n),
            )

        return total
    if spec_name == "order.line_count":
        return lambda frame: frame.column(
            spec_name, lambda: np.diff(np.asarray(frame.ctx.line_start)).astype(np.float64)
        )
    raise AssertionError(spec_name)  # pragma: no cover


def _line_field(spec_name: str) -> Callable[[Frame], npt.NDArray[Any]]:
    if spec_name == "line.sku":
        return lambda frame: frame.column(
            spec_name, lambda: _text_column(list(frame.ctx.line_sku))
        )[:, None]
    if spec_name == "line.quantity":
        return lambda frame: np.asarray(frame.ctx.line_quantity, dtype=np.float64)[:, None]
    raise AssertionError(spec_name)  # pragma: no cover


def _warehouse_field(spec_name: str) -> Callable[[Frame], npt.NDArray[Any]]:
    def attribute(get: Callable[[Any], Any], dtype: Any) -> Callable[[Frame], npt.NDArray[Any]]:
        return lambda frame: frame.column(
            spec_name,
            lambda: np.array([get(w) for w in frame.ctx.network.warehouses], dtype=dtype),
        )[None, :]

    if spec_name == "warehouse.id":
        return attribute(lambda w: w.warehouse_id, np.str_)
    if spec_name == "warehouse.country_code":
        return attribute(lambda w: w.country_code, np.str_)
    if spec_name == "warehouse.postal_code":
        return attribute(lambda w: w.postal_code, np.str_)
    if spec_name == "warehouse.handling_days":
        return attribute(lambda w: w.handling_days, np.float64)
    if spec_name == "warehouse.distance_km":
        return lambda frame: frame.pick(np.asarray(frame.ctx.distance_km, dtype=np.float64))
    if spec_name == "warehouse.ships_today":
        return lambda frame: frame.per_order_warehouse(spec_name, _ships_today)
    if spec_name == "warehouse.delivery_days":
        return lambda frame: frame.per_order_warehouse(spec_name, _delivery_days)
    raise AssertionError(spec_name)  # pragma: no cover


def _local_days(stamps: npt.NDArray[np.datetime64], offsets: IntArray) -> npt.NDArray[np.int64]:
    """Local calendar day numbers of UTC ``stamps`` ``[n, W]`` shifted by per-warehouse offsets."""
    seconds = stamps.astype("datetime64[s]").astype(np.int64)
    return (seconds + offsets[None, :]) // 86_400


def _ships_today(frame: Frame) -> BoolArray:
    """True where the first pickup serving the order leaves on the site's local today."""
    ctx = frame.ctx
    now = ctx.now.astimezone(dt.UTC)
    zones = ctx.network.time_zones
    offsets = np.array(
        [int((now.astimezone(z).utcoffset() or dt.timedelta()).total_seconds()) for z in zones],
        dtype=np.int64,
    )
    ship_by: npt.NDArray[np.datetime64] = frame.pick(np.asarray(ctx.ship_by))
    now_seconds = int(now.timestamp())
    today = (now_seconds + offsets) // 86_400
    same_day: BoolArray = _local_days(ship_by, offsets) == today[None, :]
    return ~np.isnat(ship_by) & same_day


def _delivery_days(frame: Frame) -> FloatArray:
    """Calendar days from today to the estimated delivery date (policy time zone); NaN if none."""
    deliver_by = frame.pick(np.asarray(frame.ctx.deliver_by))
    offset = int((frame.local_now.utcoffset() or dt.timedelta()).total_seconds())
    seconds = deliver_by.astype("datetime64[s]").astype(np.int64)
    days = ((seconds + offset) // 86_400).astype(np.float64)
    today = (int(frame.ctx.now.timestamp()) + offset) // 86_400
    out = days - today
    out[np.isnat(deliver_by)] = np.nan
    return out


def _tag_mask_lines(frame: Frame, tag: str) -> BoolArray:
    tags = frame.ctx.sku_tags

    def build() -> BoolArray:
        unique, codes = frame.skus()
        per_sku = np.fromiter(
            (tag in tags.get(sku, ()) for sku in unique), dtype=np.bool_, count=len(unique)
        )
        return per_sku[codes]

    return frame.column(f"line-tag:{tag}", build)


def _tag_mask_warehouses(frame: Frame, tag: str) -> BoolArray:
    return frame.column(
        f"wh-tag:{tag}",
        lambda: np.array([tag in tags for tags in frame.ctx.network.tags], dtype=np.bool_),
    )


def _literal(value: a.Value, spec_name: str) -> Any:
    if spec_name == "order.service_level":
        return int(ServiceLevel[str(value.value)])
    if value.kind in ("integer", "decimal"):
        return value.as_float()
    return value.value


_NUMERIC_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
    "before": lambda x, y: x < y,
    "after": lambda x, y: x > y,
}


class _Compiler:
    def cond(self, cond: a.Cond) -> Evaluator:
        if isinstance(cond, a.Group):
            return self.cond(cond.inner)
        if isinstance(cond, a.And | a.Or):
            parts = [self.cond(operand) for operand in cond.operands]
            combine = np.logical_and if isinstance(cond, a.And) else np.logical_or

            def every(frame: Frame) -> Evaluated:
                result, kind = parts[0](frame)
                for part in parts[1:]:
                    values, other = part(frame)
                    joint = max(kind, other)
                    result = combine(
                        frame.to_rows(result, kind, joint), frame.to_rows(values, other, joint)
                    )
                    kind = joint
                return result, kind

            return every
        if isinstance(cond, a.Not):
            inner = self.cond(cond.operand)

            def negate(frame: Frame) -> Evaluated:
                x, kind = inner(frame)
                return ~x, kind

            return negate
        if isinstance(cond, a.AnyLine | a.AllLines):
            return self.quantifier(cond)
        if isinstance(cond, a.Truthy):
            get, kind = self.field(cond.field)
            return lambda frame: (get(frame).astype(np.bool_), kind)
        return self.compare(cond)

    def quantifier(self, cond: a.AnyLine | a.AllLines) -> Evaluator:
        inner = self.cond(cond.cond)
        want_all = isinstance(cond, a.AllLines)

        def reduce(frame: Frame) -> Evaluated:
            # Lines are never restricted: evaluate over the whole batch, then take the rows.
            full = frame.full
            values, kind = inner(full)
            if kind == SCALAR:
                return values, kind
            if kind == LINE:
                flat = values[:, 0]
                counted = ~flat if want_all else flat
                hits = np.bincount(full.line_order, weights=counted, minlength=full.n)
                values = (hits == 0 if want_all else hits > 0)[:, None]
            return frame.pick(values), ORDER

        return reduce

    def field(self, field: a.Field) -> tuple[Callable[[Frame], npt.NDArray[Any]], int]:
        spec = FIELDS[".".join(field.path)]
        name = spec.name
        if spec.level is Level.SCALAR:
            if name == "today":
                return lambda frame: np.array([[frame.local_now.date()]], dtype=object), SCALAR
            return (
                lambda frame: np.array(
                    [[frame.local_now.time().replace(tzinfo=None)]], dtype=object
                ),
                SCALAR,
            )
        if spec.level is Level.ORDER:
            column = _order_field(name, field.key)
            return lambda frame: frame.pick(column(frame.full))[:, None], ORDER
        if spec.level is Level.LINE:
            return _line_field(name), LINE
        return _warehouse_field(name), ORDER if spec.level is Level.ORDER_WAREHOUSE else SCALAR

    def compare(self, cond: a.Compare) -> Evaluator:
        spec = FIELDS[".".join(cond.field.path)]
        op = cond.op
        if op == "contains":
            assert isinstance(cond.operand, a.Value)
            tag = str(cond.operand.value)
            if spec.level is Level.LINE:
                return lambda frame: (_tag_mask_lines(frame, tag)[:, None], LINE)
            return lambda frame: (_tag_mask_warehouses(frame, tag)[None, :], SCALAR)
        get, kind = self.field(cond.field)
        if op in ("in", "not in"):
            assert isinstance(cond.operand, a.ListValue)
            items = [_literal(item, spec.name) for item in cond.operand.items]
            choices = np.array(items) if items else np.array([], dtype=np.str_)
            invert = op == "not in"
            return lambda frame: (np.isin(get(frame), choices, invert=invert), kind)
        if op == "matches":
            assert isinstance(cond.operand, a.Value)
            glob = _Glob(str(cond.operand.value))
            if spec.name == "line.sku":
                return lambda frame: (glob.over_skus(frame)[:, None], LINE)
            return lambda frame: (glob.over(get(frame)), kind)
        if op == "starts with":
            assert isinstance(cond.operand, a.Value)
            prefix = str(cond.operand.value)
            return lambda frame: (np.char.startswith(get(frame), prefix), kind)
        if op == "between":
            assert isinstance(cond.operand, tuple)
            low, high = (_literal(v, spec.name) for v in cond.operand)
            return lambda frame: (_between(get(frame), low, high), kind)
        assert isinstance(cond.operand, a.Value)
        value = _literal(cond.operand, spec.name)
        compare = _NUMERIC_OPS[op]
        return lambda frame: (np.asarray(compare(get(frame), value), dtype=np.bool_), kind)


def _between(values: npt.NDArray[Any], low: Any, high: Any) -> BoolArray:
    return np.asarray((values >= low) & (values <= high), dtype=np.bool_)


# ---- compiled statements ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Target:
    describe: str
    mask: Callable[[Frame], npt.NDArray[Any]]  # [1 or n, W] bool


@dataclasses.dataclass(frozen=True)
class _Action:
    kind: str  # exclude, require, prefer, hold, max_shipments, ship_complete, no_line_split
    target: _Target | None = None
    bonus_km: float = 0.0
    reason: str = ""
    count: int = 0


@dataclasses.dataclass(frozen=True)
class _Rule:
    name: str
    priority: int
    line: int
    when: Evaluator | None
    line_scope: Evaluator | None
    actions: tuple[_Action, ...]


@dataclasses.dataclass(frozen=True)
class _StockRule:
    """A reserve or a safety stock statement."""

    channel: str
    percent: float | None
    units: int
    skus: Callable[[str, Mapping[str, frozenset[str]]], bool]
    window: tuple[dt.date, dt.date] | None = None


def _sku_filter(scope: a.SkuScope | None) -> Callable[[str, Mapping[str, frozenset[str]]], bool]:
    if scope is None:
        return lambda sku, tags: True
    pattern = str(scope.pattern.value)
    if scope.kind == "tagged":
        return lambda sku, tags: pattern in tags.get(sku, ())
    glob = _Glob(pattern)
    return lambda sku, tags: glob(sku)


def _target(compiler: _Compiler, target: a.Target) -> _Target:
    if target.kind == "ids":
        ids = [str(v.value) for v in target.ids]
        wanted = np.array(ids, dtype=np.str_)
        describe = f"warehouse {ids[0]}" if target.single else "warehouses " + ", ".join(ids)
        return _Target(
            describe,
            lambda frame: frame.column(
                f"ids:{','.join(ids)}",
                lambda: np.isin(np.array(frame.ctx.network.warehouse_ids, dtype=np.str_), wanted),
            )[None, :],
        )
    if target.kind == "tagged":
        assert target.tag is not None
        tag = str(target.tag.value)
        return _Target(
            f"warehouses tagged {tag}", lambda frame: _tag_mask_warehouses(frame, tag)[None, :]
        )
    assert target.cond is not None
    evaluate = compiler.cond(target.cond)

    def where(frame: Frame) -> npt.NDArray[Any]:
        values, _ = evaluate(frame)
        return np.broadcast_to(values, (values.shape[0], frame.w))

    from rules._format import format_cond  # the formatter prints the condition in plain words

    return _Target(f"warehouses where {format_cond(target.cond)}", where)


def _number(value: a.Value) -> float:
    return value.as_float()


class CompiledPolicy(Policy):
    """A routing policy compiled from a rules file. Immutable once built (safe to share)."""

    def __init__(self, policy: a.PolicyFile, *, version: str) -> None:
        compiler = _Compiler()
        self.version = version
        self.warnings: tuple[Diagnostic, ...] = ()
        self.source = policy.source
        self.file_name = policy.file_name
        self.default_max_shipments = 3
        self.rank_kind = "distance"
        self.rank_order: tuple[str, ...] = ()
        self.cost_per_km = 0.0
        self._handling: list[tuple[float, _Target]] = []
        self.tz = zoneinfo.ZoneInfo("UTC")
        self._rules: list[_Rule] = []
        self._reserves: list[_StockRule] = []
        self._safety: list[_StockRule] = []
        self._refunds: list[a.Refund] = []
        channels: set[str] = set()
        for statement in policy.statements:
            if isinstance(statement, a.Rule):
                self._rules.append(self._rule(compiler, statement))
                channels |= _channels_named(statement)
            elif isinstance(statement, a.Reserve | a.SafetyStock):
                amount = statement.amount
                rule = _StockRule(
                    channel=str(statement.channel.value),
                    percent=_number(amount.value) if amount.unit == "percent" else None,
                    units=amount.value.as_int() if amount.unit == "units" else 0,
                    skus=_sku_filter(statement.skus),
                    window=(
                        (statement.window[0].as_date(), statement.window[1].as_date())
                        if isinstance(statement, a.Reserve) and statement.window
                        else None
                    ),
                )
                (self._reserves if isinstance(statement, a.Reserve) else self._safety).append(rule)
                channels.add(rule.channel)
            elif isinstance(statement, a.DefaultMaxShipments):
                self.default_max_shipments = statement.count.as_int()
            elif isinstance(statement, a.Rank):
                self.rank_kind = statement.kind
                if statement.order is not None:
                    self.rank_order = tuple(str(v.value) for v in statement.order.items)
            elif isinstance(statement, a.Optimize):
                self.shipment_weight = _number(statement.shipment_weight)
                self.distance_weight = _number(statement.km_weight)
            elif isinstance(statement, a.Timezone):
                self.tz = zoneinfo.ZoneInfo(str(statement.name.value))
            elif isinstance(statement, a.ShippingCost):
                self.cost_per_km = _number(statement.per_km)
            elif isinstance(statement, a.Refund):
                self._refunds.append(statement)
            elif isinstance(statement, a.HandlingCost):
                self._handling.append(
                    (_number(statement.cost), _target(compiler, statement.target))
                )
        self._channels = frozenset(channels)
        # Holds and max shipments are decided by priority, then by name (never by file order).
        self._rules.sort(key=lambda r: (-r.priority, r.name))
        self.rule_names = tuple(r.name for r in self._rules)

    @staticmethod
    def _rule(compiler: _Compiler, rule: a.Rule) -> _Rule:
        actions: list[_Action] = []
        for action in rule.actions:
            if isinstance(action, a.Exclude):
                actions.append(_Action("exclude", _target(compiler, action.target)))
            elif isinstance(action, a.Require):
                actions.append(_Action("require", _target(compiler, action.target)))
            elif isinstance(action, a.Prefer):
                actions.append(
                    _Action("prefer", _target(compiler, action.target), _number(action.bonus_km))
                )
            elif isinstance(action, a.Hold):
                actions.append(_Action("hold", reason=str(action.reason.value)))
            elif isinstance(action, a.MaxShipments):
                actions.append(_Action("max_shipments", count=action.count.as_int()))
            elif isinstance(action, a.ShipComplete):
                actions.append(_Action("ship_complete"))
            else:
                actions.append(_Action("no_line_split"))
        return _Rule(
            name=str(rule.name.value),
            priority=rule.priority.as_int() if rule.priority else 0,
            line=rule.span.line,
            when=compiler.cond(rule.when) if rule.when else None,
            line_scope=compiler.cond(rule.line_scope) if rule.line_scope else None,
            actions=tuple(actions),
        )

    # ---- Policy -----------------------------------------------------------------------------
    def refund_decision(self, facts: RefundFacts) -> RefundVerdict:
        """The first refund rule (in file order) whose condition holds, else the documented
        default (rules/_refund.py)."""
        return decide_refund(self._refunds, facts)

    def channels(self) -> frozenset[str]:
        return self._channels

    def _base_rank(self, frame: Frame, key: FloatArray) -> None:
        """Turn ``key`` (a writable copy of the distances) into the ranking's base key in place:
        the neutral directives already copied the [n, W] distances, and a second copy of them
        per batch was measurable."""
        if self.rank_kind == "priority":
            ids = frame.ctx.network.warehouse_ids
            place = {wid: i for i, wid in enumerate(self.rank_order)}
            steps = np.array([place.get(wid, len(place)) for wid in ids], dtype=np.float64)
            key += steps[None, :] * _PRIORITY_STEP_KM
        elif self.rank_kind == "cost" and self.cost_per_km > 0:
            fixed = np.zeros(frame.w, dtype=np.float64)
            for cost, target in self._handling:
                mask = np.broadcast_to(target.mask(frame), (1, frame.w))[0]
                fixed = np.where(mask, np.maximum(fixed, cost), fixed)
            key += fixed[None, :] / self.cost_per_km

    def directives(self, ctx: RoutingContext, *, explain: bool = False) -> Directives:
        frame = Frame(ctx, self.tz)
        n, lines = frame.n, frame.lines
        d = Directives.neutral(ctx, max_shipments=self.default_max_shipments)
        key = d.rank_key  # neutral() hands a fresh copy of the distances: rank in it in place
        if (
            key.dtype != np.float64
            or not key.flags.writeable
            or np.may_share_memory(key, ctx.distance_km)
        ):  # pragma: no cover - never write into the context
            key = np.array(ctx.distance_km, dtype=np.float64)
        self._base_rank(frame, key)
        d.rank_key = key
        base_rank = d.rank_key.copy() if explain else None
        effects: list[list[tuple[str, str]]] | None = [[] for _ in range(n)] if explain else None
        decided_max = np.zeros(n, dtype=np.bool_)
        level_max: dict[int, IntArray] = {}
        held_by: dict[int, tuple[str, str]] = {}  # order -> (rule, reason) of the winning hold
        line_order = frame.line_order
        for rule in self._rules:
            if rule.when is not None:
                values, kind = rule.when(frame)
                order_hit = np.broadcast_to(values, (n if kind else 1, 1))[:, 0]
                if kind == SCALAR:
                    order_hit = np.full(n, bool(order_hit[0]), dtype=np.bool_)
            else:
                order_hit = np.ones(n, dtype=np.bool_)
            if not order_hit.any():
                continue
            line_hit: BoolArray | None = None  # only exclude / require work per line
            if rule.line_scope is not None:
                values, kind = rule.line_scope(frame)
                scoped = frame.to_rows(values, kind, LINE)
                line_hit = order_hit[line_order] & np.broadcast_to(scoped, (lines, 1))[:, 0]
                order_hit = order_hit & (np.bincount(line_order, weights=line_hit, minlength=n) > 0)
                if not order_hit.any():
                    continue
            for action in rule.actions:
                if line_hit is None and action.kind in ("exclude", "require"):
                    line_hit = order_hit[line_order]
                self._apply(rule, action, frame, d, order_hit, line_hit, effects, held_by)
                if action.kind == "max_shipments":
                    limit = level_max.setdefault(rule.priority, np.full(n, -1, dtype=np.int64))
                    take = order_hit & ((limit < 0) | (limit > action.count))
                    limit[take] = action.count
        for priority in sorted(level_max, reverse=True):
            limit = level_max[priority]
            take = (limit > 0) & ~decided_max
            d.max_shipments[take] = limit[take]
            decided_max |= take
        hold: list[Hold | None] = [None] * n
        for i, (name, reason) in held_by.items():
            hold[i] = Hold("POLICY_HOLD", reason, rule=name)
        d.hold = hold
        if effects is not None:
            assert base_rank is not None
            self._explain_ranking(frame, d, base_rank, effects, decided_max)
            d.rule_effects = effects
        return d

    def _apply(
        self,
        rule: _Rule,
        action: _Action,
        frame: Frame,
        d: Directives,
        order_hit: BoolArray,
        line_hit: BoolArray | None,
        effects: list[list[tuple[str, str]]] | None,
        held_by: dict[int, tuple[str, str]],
    ) -> None:
        kind = action.kind
        if kind in ("exclude", "require", "prefer"):
            assert action.target is not None
            if effects is None:
                # Without explanations, touch only the rows the rule hits: most rules are
                # conditional and hit few orders, and whole [lines, W] arrays per rule dominated
                # the cost of a many-rule policy.
                self._apply_rows(kind, action, frame, d, order_hit, line_hit)
                return
            mask = action.target.mask(frame)
            if kind == "prefer":
                hit = order_hit[:, None] & mask
                d.rank_key = d.rank_key - np.where(hit, action.bonus_km, 0.0)
            else:
                assert line_hit is not None
                per_line = mask[frame.line_order] if mask.shape[0] == frame.n else mask
                blocked = per_line if kind == "exclude" else ~per_line
                newly = line_hit[:, None] & blocked
                if effects is not None:
                    self._explain_eligibility(rule, action, frame, d, newly, order_hit, effects)
                    reasons = d.exclusion_reasons if d.exclusion_reasons is not None else {}
                    d.exclusion_reasons = reasons
                    why = f"excluded by rule {rule.name!r} ({action.kind} {action.target.describe})"
                    for line, w in np.argwhere(newly & ~d.line_excluded):
                        reasons.setdefault((int(line), int(w)), why)
                d.line_excluded |= newly
            if effects is not None and kind == "prefer":
                ids = frame.ctx.network.warehouse_ids
                full = np.broadcast_to(mask, (frame.n, frame.w))
                for i in np.flatnonzero(order_hit):
                    chosen = [ids[w] for w in np.flatnonzero(full[i])]
                    text = (
                        f"preferred {', '.join(chosen)} by {action.bonus_km:g} km"
                        if chosen
                        else f"would prefer {action.target.describe}, but none applies"
                    )
                    effects[i].append((rule.name, text))
            return
        if kind == "hold":
            for row in np.flatnonzero(order_hit).tolist():
                if row not in held_by:
                    held_by[row] = (rule.name, action.reason)
                    if effects is not None:
                        effects[row].append((rule.name, f"held the order: {action.reason}"))
                elif effects is not None:
                    effects[row].append((rule.name, "would hold the order too (another rule won)"))
            return
        if kind == "ship_complete":
            d.ship_complete |= order_hit
            text = "ship the whole order or hold it"
        elif kind == "no_line_split":
            d.allow_line_split &= ~order_hit
            text = "each line ships whole from one warehouse"
        else:
            text = f"at most {action.count} shipment{'s' if action.count != 1 else ''}"
        if effects is not None:
            for i in np.flatnonzero(order_hit):
                effects[i].append((rule.name, text))

    @staticmethod
    def _apply_rows(
        kind: str,
        action: _Action,
        frame: Frame,
        d: Directives,
        order_hit: BoolArray,
        line_hit: BoolArray | None,
    ) -> None:
        """exclude / require / prefer on the hit rows only (same result as the full-array form).

        A target is evaluated on the hit orders only (:meth:`Frame.restrict`) when they are few,
        so its mask is ``[1, W]`` (warehouse only), ``[hit orders, W]`` or, for a rule that hits
        many orders, ``[n, W]``: restricting costs a copy of the hit rows of every per-order
        input, which only pays when it saves most of the rows.
        """
        assert action.target is not None
        rows = np.flatnonzero(order_hit)
        view = frame.restrict(rows) if len(rows) * 4 <= frame.n else frame
        mask = action.target.mask(view)
        whole = mask.shape[0] != 1 and view.rows is None  # rows indexed by order, all n of them
        if kind == "prefer":
            if whole and len(rows) != frame.n:
                mask = mask[rows]
            _subtract_where(d.rank_key, rows, mask, action.bonus_km)
            return
        assert line_hit is not None
        lines = np.flatnonzero(line_hit)
        if mask.shape[0] == 1:
            per_line = mask
        elif whole:
            per_line = mask[frame.line_order[lines]]
        else:
            # Every hit line belongs to a hit order: its order's place among ``rows`` is its row.
            place = np.cumsum(order_hit) - 1
            per_line = mask[place[frame.line_order[lines]]]
        _set_where(d.line_excluded, lines, per_line if kind == "exclude" else ~per_line)

    @staticmethod
    def _explain_eligibility(
        rule: _Rule,
        action: _Action,
        frame: Frame,
        d: Directives,
        newly: BoolArray,
        order_hit: BoolArray,
        effects: list[list[tuple[str, str]]],
    ) -> None:
        ids = frame.ctx.network.warehouse_ids
        starts = np.asarray(frame.ctx.line_start)
        for i in np.flatnonzero(order_hit):
            block = newly[starts[i] : starts[i + 1]]
            before = d.line_excluded[starts[i] : starts[i + 1]]
            removed = block & ~before
            hit_lines = block.any(axis=1)
            assert action.target is not None
            if not removed.any():
                effects[i].append((rule.name, f"{action.kind} {action.target.describe}: no change"))
                continue
            names = [ids[w] for w in np.flatnonzero(removed.any(axis=0))]
            lines = frame.ctx.orders[int(i)].lines
            line_ids = [lines[k].line_id for k in np.flatnonzero(hit_lines)]
            scope = (
                "every line"
                if len(line_ids) == block.shape[0]
                else "line" + ("s " if len(line_ids) > 1 else " ") + ", ".join(line_ids)
            )
            verb = (
                "excluded"
                if action.kind == "exclude"
                else f"kept only {action.target.describe}; excluded"
            )
            effects[i].append((rule.name, f"{verb} {', '.join(names)} for {scope}"))

    def _explain_ranking(
        self,
        frame: Frame,
        d: Directives,
        base_rank: FloatArray,
        effects: list[list[tuple[str, str]]],
        decided_max: BoolArray,
    ) -> None:
        ids = frame.ctx.network.warehouse_ids
        starts = np.asarray(frame.ctx.line_start)
        for i in range(frame.n):
            eligible = np.asarray(~d.line_excluded[starts[i] : starts[i + 1]].all(axis=0))
            if starts[i] == starts[i + 1]:
                eligible = np.ones(frame.w, dtype=np.bool_)
            before = [ids[w] for w in _ranked(base_rank[i], np.ones(frame.w, dtype=np.bool_))]
            after = [ids[w] for w in _ranked(d.rank_key[i], eligible)]
            how = {
                "distance": "by distance",
                "priority": "by the priority list",
                "cost": "by estimated cost",
            }[self.rank_kind]
            text = f"candidates {how}: {', '.join(before[:5]) or 'none'}"
            if after != before:
                text += f"; after the rules: {', '.join(after[:5]) or 'none eligible'}"
            effects[i].append(("ranking", text))
            if not decided_max[i]:
                effects[i].append(
                    ("default", f"at most {self.default_max_shipments} shipments (the default)")
                )

    def channel_reserves(
        self,
        skus: Sequence[str],
        on_hand: IntArray,
        now: dt.datetime,
        sku_tags: Mapping[str, frozenset[str]],
    ) -> dict[str, IntArray]:
        today = now.astimezone(self.tz).date()
        on_hand = np.asarray(on_hand, dtype=np.int64)
        out: dict[str, IntArray] = {}
        for rule in self._reserves:
            if rule.window is not None and not rule.window[0] <= today <= rule.window[1]:
                continue
            matched = np.fromiter(
                (rule.skus(sku, sku_tags) for sku in skus), dtype=np.bool_, count=len(skus)
            )
            if not matched.any():
                continue
            if rule.percent is not None:
                # floor(on_hand * p / 100) in exact integer arithmetic for p with <= 4 decimals
                scaled = round(rule.percent * 10_000)
                held = (np.maximum(on_hand, 0) * scaled) // 1_000_000
            else:
                held = np.minimum(np.maximum(on_hand, 0), rule.units)
            held = np.where(matched[:, None], held, 0).astype(np.int64)
            previous = out.get(rule.channel)
            out[rule.channel] = held if previous is None else np.maximum(previous, held)
        return out

    def safety_stock(
        self,
        channel: str,
        skus: Sequence[str],
        available: IntArray,
        sku_tags: Mapping[str, frozenset[str]],
    ) -> IntArray:
        available = np.maximum(np.asarray(available, dtype=np.int64), 0)
        out = np.zeros(len(skus), dtype=np.int64)
        for rule in self._safety:
            if rule.channel != channel:
                continue
            matched = np.fromiter(
                (rule.skus(sku, sku_tags) for sku in skus), dtype=np.bool_, count=len(skus)
            )
            if rule.percent is not None:
                scaled = round(rule.percent * 10_000)
                units = -((-available * scaled) // 1_000_000)  # ceil: show less, never more
            else:
                units = np.full(len(skus), rule.units, dtype=np.int64)
            out = np.where(matched, np.maximum(out, units), out)
        return np.minimum(out, available)


def _subtract_where(key: FloatArray, rows: IntArray, mask: BoolArray, amount: float) -> None:
    """``key[rows] -= where(mask, amount, 0.0)`` for ``mask`` ``[1, W]`` or ``[len(rows), W]``,
    bit for bit (``x - 0.0`` is ``x``). When few entries change, only those are written: a row
    update gathers, rewrites and scatters every entry of the rows (8 bytes each)."""
    if int(np.count_nonzero(mask)) * 4 > mask.size:
        key[rows] -= np.where(mask, amount, 0.0)
    elif mask.shape[0] == 1:
        for w in np.flatnonzero(mask[0]).tolist():  # a few columns: one strided update each
            column = key[:, w]
            column[rows] -= amount
    else:
        at, cols = np.nonzero(mask)
        key[rows[at], cols] -= amount


def _set_where(target: BoolArray, rows: IntArray, mask: BoolArray) -> None:
    """``target[rows] |= mask`` for ``mask`` ``[1, W]`` or ``[len(rows), W]``. Rows of bools are
    cheap to rewrite whole; only a few columns of a shared ``[1, W]`` mask go column by column."""
    if mask.shape[0] == 1 and int(np.count_nonzero(mask)) * 4 <= mask.size:
        for w in np.flatnonzero(mask[0]).tolist():
            column = target[:, w]
            column[rows] = True
    else:
        target[rows] |= mask


def _ranked(keys: FloatArray, eligible: BoolArray) -> list[int]:
    order = np.argsort(np.where(np.isnan(keys), math.inf, keys), kind="stable")
    return [int(w) for w in order if eligible[w]]


def _channels_named(rule: a.Rule) -> set[str]:
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, a.Compare) and node.field.path == ("order", "channel"):
            operand = node.operand
            values = operand.items if isinstance(operand, a.ListValue) else (operand,)
            for value in values:
                if isinstance(value, a.Value) and isinstance(value.value, str):
                    found.add(value.value)
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            for f in dataclasses.fields(node):
                visit(getattr(node, f.name))
        elif isinstance(node, tuple):
            for item in node:
                visit(item)

    visit(rule.when)
    visit(rule.line_scope)
    return found


def compile_policy(policy: a.PolicyFile, *, version: str) -> CompiledPolicy:
    return CompiledPolicy(policy, version=version)
