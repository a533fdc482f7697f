"""The grammar itself: conflict-free LALR, reserved keywords, comments, literals, and the
typed syntax tree each construct produces."""

from __future__ import annotations

import datetime as dt

import pytest

from rules import RulesError, RuleSet
from rules import _ast as a
from rules._parser import KEYWORDS, parse, parser
from tests.rules.helpers import EXAMPLES, network


def test_grammar_is_conflict_free_under_lark_strict_mode() -> None:
    """Lark's strict mode (shift/reduce conflicts, regex collisions) accepts the grammar."""
    assert parser(strict=True).options.parser == "lalr"


def test_parser_is_built_once_per_process() -> None:
    """The parser is a process-wide singleton (no per-call rebuild, no on-disk cache)."""
    assert parser() is parser()
    assert parser().options.cache is False


@pytest.mark.parametrize("word", sorted(KEYWORDS))
def test_keywords_are_reserved(word: str) -> None:
    """No keyword can be used as a field name, so an error lands on the misplaced keyword."""
    with pytest.raises(RulesError) as caught:
        parse(f'rule "r"\n  when order.{word} == "x"\n  hold "x"\n')
    (diag,) = caught.value.diagnostics
    assert (diag.span.line, diag.span.column) == (2, 14)


def test_comments_and_whitespace_are_free() -> None:
    """Comments run to the end of the line; layout does not matter; # in text is text."""
    one = parse('rule "r" when order.channel == "#1" hold "x" # note')
    two = parse('# top\nrule "r"\n\n   when order.channel\n == "#1"\n\thold "x"\n')
    from rules._check import shape

    assert shape(one.statements) == shape(two.statements)
    assert [c.text for c in one.comments] == ["# note"]


def test_literals() -> None:
    """Strings with escapes, whole and decimal numbers, dates, times, booleans, lists with a
    trailing comma and empty lists."""
    policy = parse(
        'rule "say \\"hi\\" \\\\ bye"\n'
        "  when order.total_quantity in [1, 2.5,] and today == 2026-02-03 and time < 9:05"
        " and order.channel in []\n"
        "  prefer warehouses where warehouse.ships_today == true by 12.5 km\n"
    )
    (rule,) = policy.statements
    assert isinstance(rule, a.Rule)
    assert rule.name.value == 'say "hi" \\ bye'
    assert isinstance(rule.when, a.And)
    in_list, today, time, empty = rule.when.operands
    assert isinstance(in_list, a.Compare) and isinstance(in_list.operand, a.ListValue)
    assert [v.value for v in in_list.operand.items] == [1, 2.5]
    assert isinstance(today, a.Compare) and isinstance(today.operand, a.Value)
    assert (today.operand.kind, today.operand.value) == ("date", dt.date(2026, 2, 3))
    assert isinstance(time, a.Compare) and isinstance(time.operand, a.Value)
    assert time.operand.value == dt.time(9, 5)
    assert isinstance(empty, a.Compare) and isinstance(empty.operand, a.ListValue)
    assert empty.operand.items == ()
    (prefer,) = rule.actions
    assert isinstance(prefer, a.Prefer) and prefer.bonus_km.value == 12.5


def test_spans_point_into_the_source() -> None:
    """Every node carries 1-based line/column spans of its text."""
    (rule,) = parse('rule "r"\n  when order.channel == "a"\n  hold "x"\n').statements
    assert isinstance(rule, a.Rule) and rule.when is not None
    assert rule.span == a.Span(1, 1, 3, 11)
    assert rule.when.span == a.Span(2, 8, 2, 28)


@pytest.mark.parametrize(
    ("source", "statement"),
    [
        ("default max shipments 2", a.DefaultMaxShipments),
        ("rank by distance", a.Rank),
        ('rank by priority ["EWR-1"]', a.Rank),
        ("optimize weights shipment 1 km 2", a.Optimize),
        ('timezone "UTC"', a.Timezone),
        ("shipping cost 0.1 per km", a.ShippingCost),
        ('handling cost 1 at warehouse "EWR-1"', a.HandlingCost),
        ('reserve 1 unit for "a"', a.Reserve),
        ('safety stock 1 unit of skus tagged "t" for "a"', a.SafetyStock),
        ('rule "r"\n  ship complete', a.Rule),
    ],
)
def test_each_statement_parses_to_its_node(source: str, statement: type) -> None:
    """Each top-level statement form parses to its own node type."""
    (node,) = parse(source).statements
    assert isinstance(node, statement)


def test_realistic_fifty_rule_policy_compiles_cleanly() -> None:
    """The 50-rule policy used for the speed target compiles with no diagnostics."""
    path = EXAMPLES.parent / "policies" / "realistic-50.rules"
    policy = RuleSet.compile(path.read_text(encoding="utf-8"), str(path), network())
    assert policy.warnings == () and len(policy.rule_names) == 50
