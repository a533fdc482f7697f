"""Every example in docs/rules.md works: each ```sortyard block compiles without errors or warnings
against the example network, and the sample diagnostic is what `check` really prints."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from rules import RuleSet, check, format_source, render
from tests.rules.helpers import network

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
TEXT = DOC.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```sortyard\n(.*?)```", TEXT, flags=re.DOTALL)


def test_the_doc_has_an_example_for_every_statement_and_action() -> None:
    """Each statement, action and operator of the grammar appears in some checked example."""
    joined = "\n".join(BLOCKS)
    for construct in [
        "rule ", "priority ", "when ", "for lines where", "exclude warehouse ",
        "exclude warehouses [",
        "require warehouses tagged", "warehouses where", "prefer ", "hold ", "max shipments",
        "no line split", "ship complete", "reserve ", "of skus matching", "of skus tagged",
        "between 20", "safety stock", "default max shipments", "timezone", "optimize weights",
        "rank by distance", "rank by priority", "rank by cost", "shipping cost", "handling cost",
        " == ", " != ", " > ", " <= ", " in [", " matches ", " starts with ", " contains ",
        " and ", " or ", "not ", "any line (", "all lines (", "today", "time after", "#",
        'attributes["',
    ]:  # fmt: skip
        assert construct in joined, construct


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_example_compiles_cleanly(index: int) -> None:
    """The example compiles against the example network with no error and no warning."""
    source = BLOCKS[index]
    diagnostics = check(source, f"docs/rules.md#{index}", network())
    assert [render(d, source, "doc") for d in diagnostics] == []
    RuleSet.compile(source, f"docs/rules.md#{index}", network())


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_example_is_formatted(index: int) -> None:
    """Examples are shown in the canonical layout the formatter produces."""
    assert format_source(BLOCKS[index]) == BLOCKS[index]


def test_doc_sample_diagnostic_is_real() -> None:
    """The sample `check` output in the doc is exactly what check prints for that mistake."""
    sample = re.search(r"```\n(policy\.rules:2:21: error: .*?)\n```", TEXT, flags=re.DOTALL)
    assert sample is not None
    source = 'rule "r"\n  require warehouse "ORD1"\n'
    (diagnostic,) = check(source, "policy.rules", network())
    assert render(diagnostic, source, "policy.rules") == sample.group(1)


def test_doc_test_file_example_is_valid_toml() -> None:
    """The sidecar example in the Testing section parses as TOML with the documented keys."""
    block = re.search(r"```toml\n(.*?)```", TEXT, flags=re.DOTALL)
    assert block is not None
    document = tomllib.loads(block.group(1))
    assert set(document) == {"network", "now", "stock", "sku_tags", "case"}
    assert document["case"][0]["expect"]["status"] == "PARTIALLY_ROUTED"
