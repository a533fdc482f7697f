"""`sortyard rules check|fmt|test|explain`: output and exit codes (0 clean, 1 errors, 2 usage)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from rules.cli import add_subparser, main
from tests.rules.helpers import EXAMPLES

NETWORK = str(EXAMPLES / "network.toml")
ORDER = Path(__file__).resolve().parents[2] / "server" / "examples" / "order.json"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["rules", *argv])
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_add_subparser_mounts_rules_on_a_parent_parser() -> None:
    """The lead's CLI can mount `rules`; each subcommand sets func returning the exit code."""
    parser = argparse.ArgumentParser(prog="sortyard")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["rules", "fmt", "--check", "x.rules"])
    assert args.rules_command == "fmt" and args.check and callable(args.func)


def test_check_clean_file(capsys: pytest.CaptureFixture[str]) -> None:
    """A clean example: exit 0 and a one-line summary."""
    path = str(EXAMPLES / "amazon-no-3pl.rules")
    code, out, _ = run(capsys, "check", path, "--network", NETWORK)
    assert code == 0 and out == f"{path}: 0 error(s), 0 warning(s)\n"


def test_check_errors_exit_1_with_caret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Errors print file:line:col, the line and a caret, and exit 1."""
    bad = tmp_path / "bad.rules"
    bad.write_text('rule "r"\n  require warehouse "ORD1"\n', encoding="utf-8")
    code, out, _ = run(capsys, "check", str(bad), "--network", NETWORK)
    assert code == 1
    assert f"{bad}:2:21: error: unknown warehouse 'ORD1'" in out
    assert "hint: did you mean 'ORD-1'?" in out


def test_check_warnings_fail_only_with_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Warnings alone exit 0, or 1 with --strict."""
    path = tmp_path / "w.rules"
    path.write_text('rule "r"\n  when order.channel == "a" and order.channel == "b"\n  hold "x"\n')
    assert run(capsys, "check", str(path))[0] == 0
    assert run(capsys, "check", "--strict", str(path))[0] == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Unknown subcommand, missing file or unreadable network: exit 2."""
    assert run(capsys, "lint", "x")[0] == 2
    assert run(capsys, "check", str(tmp_path / "missing.rules"))[0] == 2
    good = str(EXAMPLES / "amazon-no-3pl.rules")
    assert run(capsys, "check", good, "--network", str(tmp_path / "none.toml"))[0] == 2


def test_fmt_check_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fmt --check reports without writing (exit 1); fmt rewrites; then --check is clean."""
    path = tmp_path / "messy.rules"
    path.write_text('rule "r"   when order.channel=="a" hold "x"', encoding="utf-8")
    code, out, _ = run(capsys, "fmt", "--check", str(path))
    assert code == 1 and "would reformat" in out
    assert path.read_text() == 'rule "r"   when order.channel=="a" hold "x"'
    assert run(capsys, "fmt", str(path))[0] == 0
    assert path.read_text() == 'rule "r"\n  when order.channel == "a"\n  hold "x"\n'
    assert run(capsys, "fmt", "--check", str(path))[:2] == (0, "")


def test_test_command_runs_sidecar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """rules test passes on an example (exit 0) and fails (exit 1) when a case is wrong."""
    code, out, _ = run(capsys, "test", str(EXAMPLES / "amazon-no-3pl.rules"))
    assert code == 0 and "2 passed, 0 failed" in out
    for name in ("amazon-no-3pl.rules", "network.toml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    sidecar = (EXAMPLES / "amazon-no-3pl.rules.test.toml").read_text()
    (tmp_path / "amazon-no-3pl.rules.test.toml").write_text(
        sidecar.replace('warehouses = ["3PL-NJ"]', 'warehouses = ["ATL-1"]')
    )
    code, out, _ = run(capsys, "test", str(tmp_path / "amazon-no-3pl.rules"))
    assert code == 1 and "expected ['ATL-1'], got ['3PL-NJ']" in out


def test_explain_says_which_rules_matched(capsys: pytest.CaptureFixture[str]) -> None:
    """explain prints the matched rules, their effects, the ranking and the decision."""
    code, out, _ = run(
        capsys, "explain", str(EXAMPLES / "hazmat-tagged-sites.rules"), str(ORDER),
        "--now", "2026-11-18T15:00:00Z", "--sku-tag", "MUG-11OZ-WHT=hazmat",
    )  # fmt: skip
    assert code == 0
    assert "stock: none given, so every warehouse is assumed to have plenty" in out
    assert (
        "'hazmat ships only from certified sites': kept only warehouses tagged hazmat; "
        "excluded 3PL-NJ, ATL-1, ORD-1, LAX-1 for line 1"
    ) in out
    assert "status ROUTED" in out


def test_explain_with_stock_outside_the_network_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stock CSV naming a warehouse the network lacks: exit 2 with the warehouse named."""
    stock = tmp_path / "stock.csv"
    stock.write_text("warehouse_id,sku,on_hand\nPHX-9,MUG,5\n", encoding="utf-8")
    code, _, err = run(
        capsys, "explain", str(EXAMPLES / "amazon-no-3pl.rules"), str(ORDER),
        "--stock", str(stock), "--now", "2026-11-18T15:00:00Z",
    )  # fmt: skip
    assert code == 2
    assert f"{stock}: stock names warehouse 'PHX-9', which is not in the network" in err
