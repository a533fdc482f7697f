"""Golden tests that live next to a rules file: ``NAME.rules`` → ``NAME.rules.test.toml``.

Each case routes one order through ``engine.Router`` with the compiled policy, a stock, a clock and
SKU tags, and compares the outcome with what the author expects. See docs/rules.md ("Testing").
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import engine
from rules._compile import CompiledPolicy
from rules._diagnostics import RulesError
from rules._files import (
    FileError,
    load_network,
    load_stock_levels,
    order_from_mapping,
    stock_table,
)
from rules._ruleset import RuleSet

__all__ = ["CaseResult", "TestReport", "describe_decision", "run_tests", "sidecar_path"]

_CASE_KEYS = frozenset({"name", "now", "order", "stock", "sku_tags", "expect"})
_EXPECT_KEYS = frozenset(
    {"status", "shipments", "warehouses", "unfilled", "hold_code", "hold_reason", "rules",
     "available"}
)  # fmt: skip


def sidecar_path(rules_path: str | Path) -> Path:
    path = Path(rules_path)
    return path.with_name(path.name + ".test.toml")


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    passed: bool
    problems: tuple[str, ...] = ()
    got: str = ""  # the decision and its explanation in plain words (shown on failure)


@dataclass(slots=True)
class TestReport:
    rules_file: str
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(case.passed for case in self.cases) and bool(self.cases)

    def render(self, *, verbose: bool = False) -> str:
        lines: list[str] = []
        for case in self.cases:
            lines.append(f"{'PASS' if case.passed else 'FAIL'}  {case.name}")
            if not case.passed:
                lines.extend(f"      {problem}" for problem in case.problems)
            if case.got and (verbose or not case.passed):
                lines.extend(f"      | {text}" for text in case.got.splitlines())
        failed = sum(not case.passed for case in self.cases)
        lines.append(
            f"{self.rules_file}: {len(self.cases) - failed} passed, {failed} failed"
            if self.cases
            else f"{self.rules_file}: no test cases found"
        )
        return "\n".join(lines)


def _instant(value: Any, where: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise FileError(f"{where}: expected a date-time like 2026-11-20T15:00:00Z, got {value!r}")


def describe_decision(decision: engine.RouteDecision, *, rule_effects: bool = True) -> str:
    """A decision and its explanation in plain words."""
    out = [f"status {decision.status.name}"]
    for shipment in decision.shipments:
        parts = ", ".join(f"line {a.line_id} × {a.quantity}" for a in shipment.lines)
        out.append(f"ship from {shipment.warehouse_id}: {parts} ({shipment.distance_km:,.0f} km)")
    for unfilled in decision.unfilled:
        out.append(f"unfilled line {unfilled.line_id} × {unfilled.quantity}: {unfilled.reason}")
    if decision.hold is not None:
        rule = f" (rule {decision.hold.rule!r})" if decision.hold.rule else ""
        out.append(f"held {decision.hold.code}: {decision.hold.reason}{rule}")
    explanation = decision.explanation
    if explanation is not None:
        out.append(f"summary: {explanation.summary}")
        for rule, effect in explanation.rule_effects if rule_effects else ():
            label = rule if rule in ("ranking", "default") else f"rule {rule!r}"
            out.append(f"{label}: {effect}")
        for line in explanation.lines:
            for cand in line.candidates:
                out.append(
                    f"line {line.line_id} · {cand.warehouse_id}: {cand.verdict.name.lower()}"
                    f" ({cand.reason})"
                )
    return "\n".join(out)


def _compare(
    expect: Mapping[str, Any],
    decision: engine.RouteDecision,
    available: Mapping[str, Mapping[str, int]],
) -> list[str]:
    problems: list[str] = []

    def differ(what: str, want: Any, got: Any) -> None:
        if want != got:
            problems.append(f"{what}: expected {want!r}, got {got!r}")

    if "status" in expect:
        differ("status", str(expect["status"]).upper(), decision.status.name)
    if "shipments" in expect:
        got_shipments = {
            s.warehouse_id: {a.line_id: a.quantity for a in s.lines} for s in decision.shipments
        }
        want = {
            w: {str(k): int(v) for k, v in lines.items()}
            for w, lines in expect["shipments"].items()
        }
        differ("shipments", want, got_shipments)
    if "warehouses" in expect:
        differ(
            "warehouses",
            sorted(expect["warehouses"]),
            sorted(s.warehouse_id for s in decision.shipments),
        )
    if "unfilled" in expect:
        got_unfilled = {u.line_id: u.quantity for u in decision.unfilled}
        differ("unfilled", {str(k): int(v) for k, v in expect["unfilled"].items()}, got_unfilled)
    hold = decision.hold
    if "hold_code" in expect:
        differ("hold code", expect["hold_code"], hold.code if hold else None)
    if "hold_reason" in expect:
        differ("hold reason", expect["hold_reason"], hold.reason if hold else None)
    if "rules" in expect:
        matched = sorted(
            {
                rule
                for rule, _ in (decision.explanation.rule_effects if decision.explanation else ())
            }
            - {"ranking", "default"}
        )
        differ("rules that matched", sorted(expect["rules"]), matched)
    if "available" in expect:
        for channel, per_sku in expect["available"].items():
            for sku, units in per_sku.items():
                got = available.get(channel, {}).get(sku)
                differ(f"available to sell for {channel} of {sku}", int(units), got)
    return problems


def _case(
    raw: Mapping[str, Any],
    index: int,
    policy: CompiledPolicy,
    network: engine.Network,
    defaults: Mapping[str, Any],
    base: Path,
) -> CaseResult:
    name = str(raw.get("name", f"case {index + 1}"))
    where = f"case {name!r}"
    unknown = set(raw) - _CASE_KEYS
    if unknown:
        raise FileError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_CASE_KEYS)}")
    expect = raw.get("expect")
    if not isinstance(expect, Mapping) or not expect:
        raise FileError(f"{where}: needs an [case.expect] table")
    unknown = set(expect) - _EXPECT_KEYS
    if unknown:
        raise FileError(f"{where}: unknown expect keys {sorted(unknown)}")
    now = _instant(raw.get("now", defaults.get("now")), f"{where}: now")
    order_doc = dict(raw.get("order") or {})
    order_doc.setdefault("service_level", "STANDARD")
    order_doc.setdefault("channel_order_id", f"test-{index + 1}")
    order = order_from_mapping(order_doc, where)
    stock_raw = raw.get("stock", defaults.get("stock", []))
    if isinstance(stock_raw, str):
        levels = load_stock_levels(base / stock_raw)
    else:
        levels = [(str(s["warehouse_id"]), str(s["sku"]), int(s["on_hand"])) for s in stock_raw]
    stock = stock_table(network, [line.sku for line in order.lines], levels, where)
    tags_raw = {**defaults.get("sku_tags", {}), **raw.get("sku_tags", {})}
    sku_tags = {sku: frozenset(tags) for sku, tags in tags_raw.items()}
    available_before = engine.available_to_sell(
        stock, policy, sorted(expect.get("available", {})), now, sku_tags
    )
    available = {
        channel: {sku: int(units[row]) for row, sku in enumerate(stock.skus)}
        for channel, units in available_before.items()
    }
    router = engine.Router(network, policy)
    (decision,) = router.route(
        [order], stock, now=now, explain=True, commit=False, sku_tags=sku_tags
    )
    problems = _compare(expect, decision, available)
    return CaseResult(name, not problems, tuple(problems), describe_decision(decision))


def run_tests(rules_path: str | Path, test_path: str | Path | None = None) -> TestReport:
    """Run the golden cases of ``rules_path``. Raises :class:`RulesError` if the rules do not
    compile and :class:`FileError` if the test file is malformed."""
    rules_path = Path(rules_path)
    test_path = Path(test_path) if test_path else sidecar_path(rules_path)
    try:
        document = tomllib.loads(test_path.read_text(encoding="utf-8"))
    except OSError as error:
        raise FileError(f"{test_path}: {error.strerror or error}") from error
    except tomllib.TOMLDecodeError as error:
        raise FileError(f"{test_path}: {error}") from error
    base = test_path.parent
    if "network" not in document:
        raise FileError(f'{test_path}: name the network file, e.g. network = "network.toml"')
    network = load_network(base / str(document["network"]))
    source = rules_path.read_text(encoding="utf-8")
    policy = RuleSet.compile(source, str(rules_path), network)
    report = TestReport(str(rules_path))
    cases = document.get("case", [])
    if not isinstance(cases, list):
        raise FileError(f"{test_path}: write each case as a [[case]] table")
    for index, raw in enumerate(cases):
        try:
            report.cases.append(_case(raw, index, policy, network, document, base))
        except FileError as error:
            raise FileError(f"{test_path}: {error}") from error
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, RulesError):
                raise
            raise FileError(f"{test_path}: case {index + 1}: {error!r}") from error
    return report
