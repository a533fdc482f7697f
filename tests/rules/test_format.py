"""`rules fmt`: one canonical layout, comments kept, idempotent, meaning unchanged."""

# ruff: noqa: E501  (golden text: the formatter keeps long conditions on one line, some over 100 characters)

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import format_source
from rules._check import shape
from rules._parser import parse
from tests.rules.helpers import EXAMPLES

EXAMPLE_FILES = sorted([*EXAMPLES.glob("*.rules"), *(EXAMPLES.parent / "policies").glob("*.rules")])


def meaning(source: str) -> object:
    return shape(parse(source).statements)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_examples_are_formatted_and_round_trip(path: Path) -> None:
    """Every shipped example is already in canonical layout and formats to itself."""
    source = path.read_text(encoding="utf-8")
    assert format_source(source) == source


MESSY = """# header comment

reserve   20%  for "amazon"    # trailing on a statement
rule "a" priority 2 when order.channel=="amazon" and (order.total_quantity>1 or not order.ship_to.state in ["AK","HI",])
# leading comment of an action line
   exclude warehouses tagged "3pl" prefer warehouse "EWR-1" by 5 km   # after prefer
rule "b"
  when any line (line.sku matches "A*")
  for lines where line.quantity >= 2
  hold "x \\"quoted\\""
  # comment at the end
"""

EXPECTED = """# header comment

reserve 20% for "amazon"  # trailing on a statement

# leading comment of an action line
rule "a" priority 2
  when order.channel == "amazon" and (order.total_quantity > 1 or not order.ship_to.state in ["AK", "HI"])
  exclude warehouses tagged "3pl"
  prefer warehouse "EWR-1" by 5 km  # after prefer

rule "b"
  when any line (line.sku matches "A*")
  for lines where line.quantity >= 2
  hold "x \\"quoted\\""

# comment at the end
"""


def test_messy_file_gets_the_canonical_layout() -> None:
    """Spacing, line breaks and list commas are normalised; every comment is kept."""
    assert format_source(MESSY) == EXPECTED


def test_formatting_is_idempotent_and_keeps_meaning() -> None:
    """fmt(fmt(x)) == fmt(x) and the formatted file means the same as the original."""
    once = format_source(MESSY)
    assert format_source(once) == once
    assert meaning(once) == meaning(MESSY)


def test_comment_hash_inside_text_is_not_a_comment() -> None:
    """A # inside quotes is text, not the start of a comment."""
    source = 'rule "r"\n  hold "ticket #42"\n'
    assert format_source(source) == source


def test_empty_file_formats_to_empty() -> None:
    """An empty policy stays empty."""
    assert format_source("") == ""
    assert format_source("\n\n") == ""


FIELDS = st.sampled_from(
    ['order.channel == "a"', "order.total_quantity > 3", 'order.ship_to.state in ["AK", "HI"]',
     'order.attributes["x"] == ""', "today after 2026-01-01", "time before 09:30",
     'any line (line.sku matches "Z*")', 'all lines (line.tags contains "t")']
)  # fmt: skip


def conditions() -> st.SearchStrategy[str]:
    return st.recursive(
        FIELDS,
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: f"{p[0]} and {p[1]}"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]} or {p[1]})"),
            inner.map(lambda c: f"not ({c})"),
        ),
        max_leaves=6,
    )


@settings(max_examples=60, deadline=None)
@given(
    cond=conditions(),
    spaces=st.sampled_from([" ", "   ", "\n    ", "\t"]),
    comment=st.booleans(),
)
def test_format_round_trip_property(cond: str, spaces: str, comment: bool) -> None:
    """For generated rules with arbitrary spacing: formatting is idempotent, keeps the meaning,
    and keeps the comment."""
    source = f'rule "r"{spaces}when {cond}{spaces}hold "h"'
    if comment:
        source = "# note\n" + source
    once = format_source(source)
    assert format_source(once) == once
    assert meaning(once) == meaning(source)
    assert ("# note" in once) is comment
