"""Warnings `rules check` gives for rules that can never fire or never take effect."""

from __future__ import annotations

import pytest

from rules import Severity, check


def warnings(source: str) -> list[tuple[str, int, str]]:
    return [
        (d.code, d.span.line, d.message)
        for d in check(source, "w.rules")
        if d.severity is Severity.WARNING
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            'rule "r"\n  when order.channel in []\n  hold "x"\n',
            [("never-fires", 2, 'rule "r" can never fire: order.channel in [] is never true')],
        ),
        (
            'rule "r"\n  when order.total_quantity between 5 and 1\n  hold "x"\n',
            [
                (
                    "never-fires",
                    2,
                    'rule "r" can never fire: order.total_quantity between 5 and 1 is empty',
                )
            ],
        ),
        (
            'rule "r"\n  when order.channel in ["a", "b"] and order.channel == "c"\n  hold "x"\n',
            [
                (
                    "never-fires",
                    2,
                    'rule "r" can never fire: order.channel cannot equal two different values '
                    "at once",
                )
            ],
        ),
        (
            'reserve 5 units for "a" between 2026-12-31 and 2026-11-01\n',
            [
                (
                    "never-fires",
                    1,
                    "the window 2026-12-31 to 2026-11-01 is empty; this reserve never applies",
                )
            ],
        ),
    ],
)
def test_rules_that_can_never_fire(source: str, expected: list[tuple[str, int, str]]) -> None:
    """Contradictory conditions, empty lists and empty windows are flagged."""
    assert warnings(source) == expected


def test_hold_overridden_by_a_higher_priority_hold() -> None:
    """A hold that an unconditional, higher-priority hold always pre-empts is flagged."""
    source = (
        'rule "first" priority 5\n  when order.channel == "a"\n  hold "one"\n'
        'rule "second"\n  when order.channel == "a"\n  hold "two"\n'
    )
    (code, line, message), *_ = warnings(source)
    assert (code, line) == ("shadowed", 6)
    assert message.startswith('the hold of rule "second" never takes effect')


def test_repeated_exclude_is_flagged_once() -> None:
    """The same exclude under the same condition twice: the later one is reported."""
    source = (
        'rule "a"\n  when order.channel == "x"\n  exclude warehouse "EWR-1"\n'
        'rule "b"\n  when order.channel == "x"\n  exclude warehouse "EWR-1"\n'
    )
    assert warnings(source) == [("shadowed", 6, 'rule "b" repeats an exclude of rule "a"')]


def test_independent_rules_have_no_warnings() -> None:
    """Rules on different orders or different warehouses do not warn."""
    source = (
        'rule "a"\n  when order.channel == "x"\n  exclude warehouse "EWR-1"\n'
        'rule "b"\n  when order.channel == "y"\n  prefer warehouse "EWR-1" by 10 km\n'
        'rule "c"\n  when order.channel == "x"\n  max shipments 1\n'
    )
    assert warnings(source) == []
