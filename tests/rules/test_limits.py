"""Hostile or runaway files are rejected quickly, with a clear message, before expensive work."""

from __future__ import annotations

import pytest

from rules import RulesError, RuleSet, RulesLimitError, check
from rules._compile import glob_regex


def codes(source: str) -> list[str]:
    return [d.code for d in check(source, "hostile.rules")]


def test_huge_file_is_rejected_before_parsing() -> None:
    """A file over 256 KiB fails with limit-file-size."""
    source = "# " + "x" * (300 * 1024)
    with pytest.raises(RulesLimitError, match="the limit is 262,144"):
        RuleSet.compile(source)


def test_deep_nesting_is_rejected_before_parsing() -> None:
    """Parentheses nested deeper than 32 levels fail with limit-nesting at the 33rd."""
    condition = "(" * 5000 + 'order.channel == "a"' + ")" * 5000
    source = f'rule "r"\n  when {condition}\n  hold "x"\n'
    (diag,) = check(source, "hostile.rules")
    assert diag.code == "limit-nesting" and diag.span.column == 8 + 32


def test_deep_not_chain_is_rejected() -> None:
    """A long chain of `not` (no parentheses) also hits the nesting limit."""
    source = 'rule "r"\n  when ' + "not " * 40 + 'order.channel == "a"\n  hold "x"\n'
    assert "limit-nesting" in codes(source)


def test_too_many_statements() -> None:
    """More than 1,000 statements fail with limit-statements."""
    source = "".join(
        f'rule "r{i}"\n  when order.channel == "c{i}"\n  hold "x"\n' for i in range(1001)
    )
    assert codes(source) == ["limit-statements"]


def test_pathological_glob_is_rejected() -> None:
    """Patterns with too many wildcards or too long are refused."""
    many = 'rule "r"\n  when order.channel matches "' + "a*" * 20 + 'b"\n  hold "x"\n'
    assert codes(many) == ["limit-pattern"]
    long = 'rule "r"\n  when order.channel matches "' + "a" * 101 + '"\n  hold "x"\n'
    assert codes(long) == ["limit-pattern"]


def test_runs_of_stars_collapse() -> None:
    """`a****b` compiles like `a*b`, so repeated stars cannot blow up matching."""
    assert glob_regex("a****b").pattern == glob_regex("a*b").pattern


def test_long_list_and_text_limits() -> None:
    """Lists over 5,000 items and texts over 500 characters are refused."""
    items = ", ".join(f'"c{i}"' for i in range(5001))
    assert "limit-list" in codes(f'rule "r"\n  when order.channel in [{items}]\n  hold "x"\n')
    assert "limit-string" in codes('rule "r"\n  hold "' + "x" * 501 + '"\n')


def test_evaluation_steps_budget() -> None:
    """A policy whose conditions need more than 20,000 vectorised steps per batch is refused."""
    items = ", ".join(f'"c{i}"' for i in range(4000))
    source = "".join(
        f'rule "r{i}"\n  when order.channel in [{items}]\n  hold "x"\n' for i in range(6)
    )
    assert "limit-steps" in codes(source)


def test_limit_error_is_a_value_error() -> None:
    """Callers can catch limits as RulesError and as ValueError."""
    assert issubclass(RulesLimitError, RulesError) and issubclass(RulesError, ValueError)


def test_huge_not_chain_fails_fast_without_recursion() -> None:
    """Tens of thousands of `not` in a row are refused before parsing (no recursion blow-up)."""
    source = 'rule "r"\n  when ' + "not " * 60_000 + 'order.channel == "a"\n  hold "x"\n'
    (diag,) = check(source, "hostile.rules")
    assert (diag.code, diag.span.line, diag.span.column) == ("limit-nesting", 2, 8)


def test_long_and_chain_neither_recurses_nor_counts_as_nesting() -> None:
    """2,000 conditions joined by `and` compile and evaluate (flat, no deep recursion)."""
    terms = " and ".join(f'order.channel != "c{i}"' for i in range(2_000))
    source = f'rule "r"\n  when {terms}\n  hold "x"\n'
    assert check(source, "long.rules") == []
    from tests.rules.helpers import order, route

    (decision,) = route(source, [order(("MUG", 1))])
    assert decision.status.name == "HELD"
