"""Semantic checks of a parsed rules file: names, types, where each field may be used, values
against the network, limits; and warnings for rules that can never fire or are shadowed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import zoneinfo
from collections.abc import Iterator, Sequence
from typing import Any

from engine import Warehouse
from rules import _ast as a
from rules import _limits
from rules._diagnostics import Diagnostic, Severity
from rules._schema import FIELDS, OPERATORS, SERVICE_LEVELS, FieldSpec, Level, Type

__all__ = ["check_policy", "evaluation_steps", "shape"]

_VALUE_KINDS: dict[Type, frozenset[str]] = {
    Type.TEXT: frozenset({"string"}),
    Type.SERVICE_LEVEL: frozenset({"string"}),
    Type.NUMBER: frozenset({"integer", "decimal"}),
    Type.BOOL: frozenset({"bool"}),
    Type.TAGS: frozenset({"string"}),
    Type.DATE: frozenset({"date"}),
    Type.TIME: frozenset({"time"}),
}
_EXAMPLES: dict[Type, str] = {
    Type.TEXT: 'quoted text like "amazon"',
    Type.SERVICE_LEVEL: 'a service level like "EXPEDITED"',
    Type.NUMBER: "a number like 5 or 2.5",
    Type.BOOL: "true or false",
    Type.TAGS: 'a quoted tag like "hazmat"',
    Type.DATE: "a date like 2026-11-15",
    Type.TIME: "a time like 14:00",
}


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def shape(node: Any) -> Any:
    """A node with spans and spelling stripped, for comparing rules by meaning."""
    if isinstance(node, a.Group):
        return shape(node.inner)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (
            type(node).__name__,
            tuple(
                shape(getattr(node, f.name))
                for f in dataclasses.fields(node)
                if f.name not in ("span", "text")
            ),
        )
    if isinstance(node, tuple):
        return tuple(shape(item) for item in node)
    return node


def evaluation_steps(node: Any) -> int:
    """Vectorised operations one evaluation of ``node`` costs per batch (list items count too)."""
    if isinstance(node, a.ListValue):
        return 1 + len(node.items)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return 1 + sum(evaluation_steps(getattr(node, f.name)) for f in dataclasses.fields(node))
    if isinstance(node, tuple):
        return sum(evaluation_steps(item) for item in node)
    return 0


def _conjuncts(cond: a.Cond) -> Iterator[a.Cond]:
    if isinstance(cond, a.Group):
        yield from _conjuncts(cond.inner)
    elif isinstance(cond, a.And):
        for operand in cond.operands:
            yield from _conjuncts(operand)
    else:
        yield cond


def _order_key(value: a.Value) -> tuple[float, dt.date, dt.time]:
    """A sort key for numbers, dates and times (a value fills the slot of its kind)."""
    number = value.as_float() if value.kind in ("integer", "decimal") else 0.0
    date = value.as_date() if value.kind == "date" else dt.date.min
    time = value.as_time() if value.kind == "time" else dt.time.min
    return number, date, time


def _never_true(cond: a.Cond) -> str:
    """Why ``cond`` can never hold, judged from its top-level conjunction; "" if it might."""
    allowed: dict[str, set[Any]] = {}
    for part in _conjuncts(cond):
        if not isinstance(part, a.Compare):
            continue
        name = part.field.name
        values: set[Any] | None = None
        if part.op == "==" and isinstance(part.operand, a.Value):
            values = {part.operand.value}
        elif part.op == "in" and isinstance(part.operand, a.ListValue):
            values = {item.value for item in part.operand.items}
            if not values:
                return f"{name} in [] is never true"
        elif part.op == "between" and isinstance(part.operand, tuple):
            low, high = part.operand
            if low.kind == high.kind and _order_key(low) > _order_key(high):
                return f"{name} between {low.text} and {high.text} is empty"
        if values is None:
            continue
        if name in allowed:
            allowed[name] &= values
            if not allowed[name]:
                return f"{name} cannot equal two different values at once"
        else:
            allowed[name] = set(values)
    return ""


class _Checker:
    def __init__(self, policy: a.PolicyFile, warehouses: Sequence[Warehouse] | None) -> None:
        self.policy = policy
        self.diagnostics: list[Diagnostic] = []
        self.warehouses = warehouses
        self.ids = sorted(w.warehouse_id for w in warehouses or ())
        self.tags = sorted({tag for w in warehouses or () for tag in w.tags})

    def error(self, code: str, message: str, span: a.Span, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(Severity.ERROR, code, message, span, hint))

    def warning(self, code: str, message: str, span: a.Span, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(Severity.WARNING, code, message, span, hint))

    # ---- values against the network -----------------------------------------------------
    def warehouse_id(self, value: a.Value) -> None:
        if self.warehouses is None or not isinstance(value.value, str):
            return
        if value.value not in self.ids:
            self.error(
                "unknown-warehouse",
                f"unknown warehouse '{value.value}'",
                value.span,
                _suggest(value.value, self.ids) or f"known warehouses: {', '.join(self.ids)}",
            )

    def warehouse_tag(self, value: a.Value) -> None:
        if self.warehouses is None or not isinstance(value.value, str):
            return
        if value.value not in self.tags:
            self.error(
                "unknown-tag",
                f"no warehouse is tagged '{value.value}'",
                value.span,
                _suggest(value.value, self.tags)
                or (
                    f"known tags: {', '.join(self.tags)}" if self.tags else "no warehouse has tags"
                ),
            )

    def glob(self, value: a.Value) -> None:
        pattern = str(value.value)
        wildcards = pattern.count("*") + pattern.count("?")
        if len(pattern) > _limits.MAX_GLOB_LENGTH:
            self.error(
                "limit-pattern",
                f"the pattern is {len(pattern)} characters long; the limit is "
                f"{_limits.MAX_GLOB_LENGTH}",
                value.span,
            )
        elif wildcards > _limits.MAX_GLOB_WILDCARDS:
            self.error(
                "limit-pattern",
                f"the pattern has {wildcards} wildcards; the limit is {_limits.MAX_GLOB_WILDCARDS}",
                value.span,
                "use fewer * and ? (each * matches any run of characters)",
            )

    # ---- conditions ---------------------------------------------------------------------
    def field(self, field: a.Field, allowed: frozenset[Level], where: str) -> FieldSpec | None:
        name = ".".join(field.path)
        spec = FIELDS.get(name)
        if spec is None:
            self.error(
                "unknown-field",
                f"unknown field '{name}'",
                field.span,
                _suggest(name, sorted(FIELDS)) or f"fields: {', '.join(sorted(FIELDS))}",
            )
            return None
        if spec.keyed and field.key is None:
            self.error(
                "missing-key",
                f"{name} needs a name in brackets",
                field.span,
                f'write {name}["po_box"]',
            )
            return None
        if not spec.keyed and field.key is not None:
            self.error("unexpected-key", f"{name} takes no name in brackets", field.span)
            return None
        if spec.level not in allowed:
            self.error("misplaced-field", f"{name} cannot be used {where}", field.span,
                       _placement_hint(spec.level))  # fmt: skip
            return None
        return spec

    def value_of_type(self, value: a.Value, spec: FieldSpec) -> bool:
        if value.kind not in _VALUE_KINDS[spec.type]:
            self.error(
                "type-mismatch",
                f"{spec.name} is a {spec.type.value}; {value.text} is not",
                value.span,
                f"expected {_EXAMPLES[spec.type]}",
            )
            return False
        if spec.type is Type.SERVICE_LEVEL and value.value not in SERVICE_LEVELS:
            self.error(
                "unknown-service-level",
                f"unknown service level {value.text}",
                value.span,
                _suggest(str(value.value).upper(), sorted(SERVICE_LEVELS))
                or f"service levels: {', '.join(sorted(SERVICE_LEVELS))}",
            )
            return False
        if spec.name == "warehouse.id":
            self.warehouse_id(value)
        return True

    def cond(self, cond: a.Cond, allowed: frozenset[Level], where: str, depth: int = 0) -> None:
        if depth > _limits.MAX_NESTING_DEPTH:
            self.error(
                "limit-nesting",
                f"the condition nests deeper than {_limits.MAX_NESTING_DEPTH} levels",
                cond.span,
                "split the condition into several rules",
            )
            return
        if isinstance(cond, a.And | a.Or):
            for operand in cond.operands:
                self.cond(operand, allowed, where, depth + 1)
        elif isinstance(cond, a.Not):
            self.cond(cond.operand, allowed, where, depth + 1)
        elif isinstance(cond, a.Group):
            self.cond(cond.inner, allowed, where, depth + 1)
        elif isinstance(cond, a.AnyLine | a.AllLines):
            inner_allowed = frozenset({Level.SCALAR, Level.ORDER, Level.LINE})
            self.cond(
                cond.cond, inner_allowed, "inside any line (...) / all lines (...)", depth + 1
            )
        elif isinstance(cond, a.Truthy):
            spec = self.field(cond.field, allowed, where)
            if spec is not None and spec.type is not Type.BOOL:
                self.error(
                    "not-a-condition",
                    f"{spec.name} is a {spec.type.value}, not true/false",
                    cond.field.span,
                    f"compare it, e.g. {spec.name} == ...",
                )
        else:
            self.compare(cond, allowed, where)

    def compare(self, cond: a.Compare, allowed: frozenset[Level], where: str) -> None:
        spec = self.field(cond.field, allowed, where)
        if spec is None:
            return
        ops = OPERATORS[spec.type]
        if cond.op not in ops:
            self.error(
                "bad-operator",
                f"'{cond.op}' does not apply to {spec.name} (a {spec.type.value})",
                cond.span,
                "use " + ", ".join(sorted(ops)),
            )
            return
        operand = cond.operand
        if isinstance(operand, a.ListValue):
            for item in operand.items:
                self.value_of_type(item, spec)
        elif isinstance(operand, tuple):
            for item in operand:
                self.value_of_type(item, spec)
        elif cond.op in ("matches", "starts with", "contains"):
            if cond.op == "matches":
                self.glob(operand)
            elif cond.op == "contains" and spec.name == "warehouse.tags":
                self.warehouse_tag(operand)
        else:
            self.value_of_type(operand, spec)

    # ---- statements ---------------------------------------------------------------------
    def target(self, target: a.Target, *, per_order: bool = True) -> None:
        for value in target.ids:
            self.warehouse_id(value)
        if target.tag is not None:
            self.warehouse_tag(target.tag)
        if target.cond is not None and per_order:
            self.cond(
                target.cond,
                frozenset({Level.SCALAR, Level.ORDER, Level.WAREHOUSE, Level.ORDER_WAREHOUSE}),
                "in warehouses where (...)",
            )
        elif target.cond is not None:  # a handling cost belongs to the site, not to an order
            self.cond(
                target.cond,
                frozenset({Level.SCALAR, Level.WAREHOUSE}),
                "in a handling cost (it depends on the warehouse only)",
            )

    def amount(self, amount: a.Amount) -> None:
        if amount.unit == "percent" and not (0 <= amount.value.as_float() <= 100):
            self.error(
                "bad-quantity",
                f"{amount.value.text}% is not a percentage",
                amount.span,
                "expected a quantity like 20% or 5 units",
            )

    def sku_scope(self, scope: a.SkuScope | None) -> None:
        if scope is not None and scope.kind == "matching":
            self.glob(scope.pattern)

    def run(self) -> list[Diagnostic]:
        total_steps = sum(evaluation_steps(s) for s in self.policy.statements)
        if total_steps > _limits.MAX_EVALUATION_STEPS:  # refuse before any per-item work
            self.error(
                "limit-steps",
                f"the policy needs {total_steps:,} evaluation steps per batch; the limit is "
                f"{_limits.MAX_EVALUATION_STEPS:,}",
                a.Span(1, 1, 1, 2),
                "remove rules or shorten long lists",
            )
            return self.diagnostics
        settings: dict[str, a.Statement] = {}
        names: dict[str, a.Rule] = {}
        rank: a.Rank | None = None
        shipping_cost = False
        for statement in self.policy.statements:
            if isinstance(statement, a.Rule):
                self.rule(statement, names)
                continue
            if isinstance(statement, a.Refund):
                self.refund(statement)
                continue
            key = type(statement).__name__
            if isinstance(statement, a.HandlingCost):
                self.target(statement.target, per_order=False)
                continue
            if key in settings:
                first = settings[key].span
                self.error(
                    "duplicate-setting",
                    "this setting is already given",
                    statement.span,
                    f"the first one is on line {first.line}; keep one",
                )
            if isinstance(statement, a.Reserve | a.SafetyStock):
                self.amount(statement.amount)
                self.sku_scope(statement.skus)
                if isinstance(statement, a.Reserve) and statement.window is not None:
                    start, end = statement.window
                    if start.as_date() > end.as_date():
                        self.warning(
                            "never-fires",
                            f"the window {start.text} to {end.text} is empty; this reserve "
                            "never applies",
                            statement.span,
                            "put the earlier date first",
                        )
                continue
            settings[key] = statement
            if isinstance(statement, a.DefaultMaxShipments) and statement.count.value == 0:
                self.error(
                    "bad-count", "max shipments must be at least 1", statement.count.span,
                    "to stop routing orders, write a hold rule",
                )  # fmt: skip
            elif isinstance(statement, a.Rank):
                rank = statement
                for value in statement.order.items if statement.order else ():
                    self.warehouse_id(value)
            elif isinstance(statement, a.Timezone):
                try:
                    zoneinfo.ZoneInfo(str(statement.name.value))
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    self.error(
                        "unknown-timezone",
                        f"unknown time zone {statement.name.text}",
                        statement.name.span,
                        'use an IANA name like "America/New_York"',
                    )
            elif isinstance(statement, a.ShippingCost):
                shipping_cost = True
        if rank is not None and rank.kind == "cost" and not shipping_cost:
            self.error(
                "missing-cost",
                "rank by cost needs a shipping cost",
                rank.span,
                "add a line like: shipping cost 0.05 per km",
            )
        if not any(d.severity is Severity.ERROR for d in self.diagnostics):
            self.shadowing()
        return self.diagnostics

    def refund(self, refund: a.Refund) -> None:
        if refund.percent is not None and (
            refund.percent.kind != "integer" or not 0 <= refund.percent.as_int() <= 100
        ):
            self.error(
                "bad-percent",
                f"a refund is a whole percentage from 0 to 100, not {refund.percent.text}",
                refund.percent.span,
                "write e.g. refund 50%",
            )
        if refund.when is not None:
            self.cond(refund.when, frozenset({Level.RETURN}), "in a refund rule")

    def rule(self, rule: a.Rule, names: dict[str, a.Rule]) -> None:
        name = str(rule.name.value)
        if name in names:
            self.error(
                "duplicate-rule",
                f"another rule is already named {rule.name.text}",
                rule.name.span,
                f"the first one is on line {names[name].span.line}; rule names must be unique",
            )
        names[name] = rule
        if rule.when is not None:
            self.cond(rule.when, frozenset({Level.SCALAR, Level.ORDER}), "in a rule's when")
            reason = _never_true(rule.when)
            if reason:
                self.warning(
                    "never-fires", f"rule {rule.name.text} can never fire: {reason}",
                    rule.when.span,
                )  # fmt: skip
        if rule.line_scope is not None:
            self.cond(
                rule.line_scope,
                frozenset({Level.SCALAR, Level.ORDER, Level.LINE}),
                "in for lines where",
            )
        kinds = [type(action) for action in rule.actions]
        for action in rule.actions:
            if isinstance(action, a.Exclude | a.Require | a.Prefer):
                self.target(action.target)
            elif isinstance(action, a.MaxShipments) and action.count.value == 0:
                self.error(
                    "bad-count", "max shipments must be at least 1", action.count.span,
                    "to stop routing these orders, use hold",
                )  # fmt: skip
            if kinds.count(type(action)) > 1 and isinstance(
                action, a.Hold | a.MaxShipments | a.ShipComplete | a.NoLineSplit
            ):
                self.error("duplicate-action", "this action appears twice in the rule", action.span)
        if rule.when is None and rule.line_scope is None and a.Hold in kinds:
            self.warning(
                "holds-everything",
                f"rule {rule.name.text} holds every order",
                rule.span,
                "add a when condition",
            )

    def shadowing(self) -> None:
        """Warn about actions that another rule always overrides."""
        rules = [s for s in self.policy.statements if isinstance(s, a.Rule)]
        scopes = [shape((rule.when, rule.line_scope)) for rule in rules]
        for later_index, later in enumerate(rules):
            for earlier_index, earlier in enumerate(rules):
                if earlier is later:
                    continue
                same_scope = scopes[earlier_index] == scopes[later_index]
                unconditional = earlier.when is None and earlier.line_scope is None
                for action in later.actions:
                    reason = self.shadowed_by(
                        action, earlier, later, same_scope, unconditional, earlier_index,
                        later_index,
                    )  # fmt: skip
                    if reason:
                        self.warning(
                            "shadowed",
                            reason,
                            action.span,
                            f"see rule {earlier.name.text} on line {earlier.span.line}",
                        )

    @staticmethod
    def shadowed_by(
        action: a.Action,
        earlier: a.Rule,
        later: a.Rule,
        same_scope: bool,
        unconditional: bool,
        earlier_index: int,
        later_index: int,
    ) -> str:
        later_name, earlier_name = later.name.text, earlier.name.text
        later_priority = later.priority.value if later.priority else 0
        earlier_priority = earlier.priority.value if earlier.priority else 0
        assert isinstance(later_priority, int) and isinstance(earlier_priority, int)
        for other in earlier.actions:
            if (
                isinstance(action, a.Prefer | a.Require)
                and isinstance(other, a.Exclude)
                and (unconditional or same_scope)
                and shape(other.target) == shape(action.target)
            ):
                verb = "prefers" if isinstance(action, a.Prefer) else "requires"
                return (
                    f"rule {later_name} {verb} warehouses that rule {earlier_name} "
                    "always excludes (exclude beats require and prefer)"
                )
            if type(other) is type(action) and isinstance(action, a.Hold | a.MaxShipments):
                if not (unconditional or same_scope):
                    continue
                if earlier_priority > later_priority or (
                    earlier_priority == later_priority
                    and same_scope
                    and earlier_index < later_index
                    and shape(other) == shape(action)
                ):
                    what = "hold" if isinstance(action, a.Hold) else "max shipments"
                    return (
                        f"the {what} of rule {later_name} never takes effect: rule "
                        f"{earlier_name} applies to the same orders first"
                    )
            if (
                isinstance(action, a.Exclude)
                and isinstance(other, a.Exclude)
                and same_scope
                and earlier_index < later_index
                and shape(other.target) == shape(action.target)
            ):
                return f"rule {later_name} repeats an exclude of rule {earlier_name}"
        return ""


def _placement_hint(level: Level) -> str:
    if level is Level.LINE:
        return "wrap it in any line (...) or all lines (...), or use for lines where"
    if level in (Level.WAREHOUSE, Level.ORDER_WAREHOUSE):
        return "warehouse fields belong in: exclude/require/prefer warehouses where ..."
    if level is Level.RETURN:
        return "return fields belong in refund rules: refund 100% when return.reason == ..."
    return "refund rules can only ask about return fields (return.reason, return.condition, ...)"


def check_policy(
    policy: a.PolicyFile, warehouses: Sequence[Warehouse] | None = None
) -> list[Diagnostic]:
    """Every semantic error and warning of ``policy``, in source order."""
    diagnostics = _Checker(policy, warehouses).run()
    return sorted(diagnostics, key=lambda d: (d.span.line, d.span.column, d.severity))
