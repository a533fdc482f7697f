"""Golden error messages: the exact text a rule author sees from `sortyard rules check` (with the
example network), for each kind of mistake. A change here is a change to the product's wording."""

# ruff: noqa: E501  (golden text: the exact lines a rule author sees, some over 100 characters)

from __future__ import annotations

import pytest

from rules import check, render
from tests.rules.helpers import network

GOLDEN = {
    "unknown_warehouse": (
        'rule "r"\n  require warehouse "ORD1"\n',
        """\
policy.rules:2:21: error: unknown warehouse 'ORD1'
 2 |   require warehouse "ORD1"
   |                     ^^^^^^
  hint: did you mean 'ORD-1'?""",
    ),
    "unknown_warehouse_no_close_match": (
        'rule "r"\n  require warehouse "ZZZ"\n',
        """\
policy.rules:2:21: error: unknown warehouse 'ZZZ'
 2 |   require warehouse "ZZZ"
   |                     ^^^^^
  hint: known warehouses: 3PL-NJ, ATL-1, DFW-1, EWR-1, LAX-1, ORD-1""",
    ),
    "quantity_word": (
        'reserve twenty for "amazon"\n',
        """\
policy.rules:1:9: error: unexpected 'twenty'; expected a number
 1 | reserve twenty for "amazon"
   |         ^^^^^^
  hint: expected a quantity like 20% or 5 units""",
    ),
    "quantity_without_unit": (
        'reserve 20 for "amazon"\n',
        """\
policy.rules:1:12: error: unexpected 'for'; expected "%" or "units"
 1 | reserve 20 for "amazon"
   |            ^^^
  hint: expected a quantity like 20% or 5 units""",
    ),
    "keyword_typo": (
        'rule "r"\n  exlcude warehouse "EWR-1"\n',
        """\
policy.rules:2:3: error: unexpected 'exlcude'; expected "exclude", "for", "hold", "max", "no", "prefer", "priority", "require" or ...
 2 |   exlcude warehouse "EWR-1"
   |   ^^^^^^^
  hint: did you mean 'exclude'?""",
    ),
    "then_is_not_a_word": (
        'rule "r"\n  when order.channel == "amazon"\n  then exclude warehouse "EWR-1"\n',
        """\
policy.rules:3:3: error: unexpected 'then'; expected "and", "exclude", "for", "hold", "max", "no", "or", "prefer" or ...
 3 |   then exclude warehouse "EWR-1"
   |   ^^^^
  hint: write the action right after the condition, without 'then'""",
    ),
    "field_typo": (
        'rule "r"\n  when order.chanel == "amazon"\n  hold "x"\n',
        """\
policy.rules:2:8: error: unknown field 'order.chanel'
 2 |   when order.chanel == "amazon"
   |        ^^^^^^^^^^^^
  hint: did you mean 'order.channel'?""",
    ),
    "unquoted_text": (
        'rule "r"\n  when order.channel == amazon\n  hold "x"\n',
        '''\
policy.rules:2:25: error: unexpected 'amazon'; expected a value (quoted text, number, date, time, true or false)
 2 |   when order.channel == amazon
   |                         ^^^^^^
  hint: put text in double quotes: "amazon"''',
    ),
    "single_equals": (
        'rule "r"\n  when order.channel = "amazon"\n  hold "x"\n',
        """\
policy.rules:2:22: error: unexpected '='; expected ")", ".", "[", "after", "and", "before", "between", "by" or ...
 2 |   when order.channel = "amazon"
   |                      ^
  hint: write == to compare""",
    ),
    "type_mismatch": (
        'rule "r"\n  when order.total_quantity > "ten"\n  hold "x"\n',
        """\
policy.rules:2:31: error: order.total_quantity is a number; "ten" is not
 2 |   when order.total_quantity > "ten"
   |                               ^^^^^
  hint: expected a number like 5 or 2.5""",
    ),
    "service_level_typo": (
        'rule "r"\n  when order.service_level == "NEXTDAY"\n  hold "x"\n',
        """\
policy.rules:2:31: error: unknown service level "NEXTDAY"
 2 |   when order.service_level == "NEXTDAY"
   |                               ^^^^^^^^^
  hint: did you mean 'NEXT_DAY'?""",
    ),
    "line_field_in_when": (
        'rule "r"\n  when line.sku matches "HZ-*"\n  hold "x"\n',
        """\
policy.rules:2:8: error: line.sku cannot be used in a rule's when
 2 |   when line.sku matches "HZ-*"
   |        ^^^^^^^^
  hint: wrap it in any line (...) or all lines (...), or use for lines where""",
    ),
    "warehouse_field_in_when": (
        'rule "r"\n  when warehouse.distance_km > 100\n  hold "x"\n',
        """\
policy.rules:2:8: error: warehouse.distance_km cannot be used in a rule's when
 2 |   when warehouse.distance_km > 100
   |        ^^^^^^^^^^^^^^^^^^^^^
  hint: warehouse fields belong in: exclude/require/prefer warehouses where ...""",
    ),
    "tag_typo": (
        'rule "r"\n  exclude warehouses tagged "hazmt"\n',
        """\
policy.rules:2:29: error: no warehouse is tagged 'hazmt'
 2 |   exclude warehouses tagged "hazmt"
   |                             ^^^^^^^
  hint: did you mean 'hazmat'?""",
    ),
    "bad_percentage": (
        'reserve 120% for "amazon"\n',
        """\
policy.rules:1:9: error: 120% is not a percentage
 1 | reserve 120% for "amazon"
   |         ^^^^
  hint: expected a quantity like 20% or 5 units""",
    ),
    "unclosed_parenthesis": (
        'rule "r"\n  when (order.channel == "a"\n',
        """\
policy.rules:2:29: error: unexpected end of file; expected ")"
 2 |   when (order.channel == "a"
   |                             ^""",
    ),
    "never_fires": (
        'rule "r"\n  when order.channel == "amazon" and order.channel == "ebay"\n  hold "x"\n',
        """\
policy.rules:2:8: warning: rule "r" can never fire: order.channel cannot equal two different values at once
 2 |   when order.channel == "amazon" and order.channel == "ebay"
   |        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^""",
    ),
    "shadowed_prefer": (
        'rule "a"\n  exclude warehouse "EWR-1"\nrule "b"\n  prefer warehouse "EWR-1" by 50 km\n',
        """\
policy.rules:4:3: warning: rule "b" prefers warehouses that rule "a" always excludes (exclude beats require and prefer)
 4 |   prefer warehouse "EWR-1" by 50 km
   |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  hint: see rule "a" on line 1""",
    ),
    "duplicate_rule_name": (
        'rule "a"\n  when order.channel == "a"\n  hold "x"\nrule "a"\n  when order.channel == "b"\n  hold "y"\n',
        """\
policy.rules:4:6: error: another rule is already named "a"
 4 | rule "a"
   |      ^^^
  hint: the first one is on line 1; rule names must be unique""",
    ),
    "operator_for_type": (
        'rule "r"\n  when order.channel > "a"\n  hold "x"\n',
        """\
policy.rules:2:8: error: '>' does not apply to order.channel (a text)
 2 |   when order.channel > "a"
   |        ^^^^^^^^^^^^^^^^^^^
  hint: use !=, ==, in, matches, not in, starts with""",
    ),
    "reserved_word_as_field": (
        'rule "r"\n  when order.in == "a"\n  hold "x"\n',
        """\
policy.rules:2:14: error: unexpected 'in'; expected a field name
 2 |   when order.in == "a"
   |              ^^
  hint: 'in' is a reserved word of the rules language""",
    ),
    "bad_date": (
        'reserve 5 units for "amazon" between 2026-02-30 and 2026-03-31\n',
        """\
policy.rules:1:38: error: 2026-02-30 is not a calendar date
 1 | reserve 5 units for "amazon" between 2026-02-30 and 2026-03-31
   |                                      ^^^^^^^^^^
  hint: write dates as YYYY-MM-DD, e.g. 2026-11-15""",
    ),
    "unknown_timezone": (
        'timezone "Mars/Olympus"\n',
        '''\
policy.rules:1:10: error: unknown time zone "Mars/Olympus"
 1 | timezone "Mars/Olympus"
   |          ^^^^^^^^^^^^^^
  hint: use an IANA name like "America/New_York"''',
    ),
    "rank_by_cost_needs_cost": (
        "rank by cost\n",
        """\
policy.rules:1:1: error: rank by cost needs a shipping cost
 1 | rank by cost
   | ^^^^^^^^^^^^
  hint: add a line like: shipping cost 0.05 per km""",
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_message(name: str) -> None:
    """The rendered diagnostics (file:line:col, source line, caret, hint) match exactly."""
    source, expected = GOLDEN[name]
    diagnostics = check(source, "policy.rules", network())
    got = "\n".join(render(d, source, "policy.rules") for d in diagnostics)
    assert got == expected
