"""``sortyard rules check|fmt|test|explain``: the rule author's toolchain.

Mount with :func:`add_subparser`; every subcommand sets ``handler`` (and the alias ``func``) on
the parsed namespace: a callable taking the namespace and returning the exit code, 0 clean,
1 errors (or failed tests, or files ``fmt --check`` would change), 2 usage (bad arguments,
unreadable files). Standalone: ``python -m rules.cli rules check FILE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import engine
from rules._diagnostics import RulesError, Severity, render
from rules._explain import explain
from rules._files import FileError, load_network, load_stock_levels, order_from_file
from rules._format import format_source
from rules._ruleset import RuleSet, check
from rules._testing import run_tests, sidecar_path

__all__ = ["add_subparser", "main"]

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def _read(path: str, err: TextIO) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"{path}: cannot read: {getattr(error, 'strerror', None) or error}", file=err)
        return None


def _network(path: str | None, err: TextIO) -> tuple[bool, engine.Network | None]:
    if path is None:
        return True, None
    try:
        return True, load_network(path)
    except FileError as error:
        print(error, file=err)
        return False, None


def _check(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    ok, network = _network(args.network, err)
    if not ok:
        return EXIT_USAGE
    worst = EXIT_OK
    for path in args.files:
        source = _read(path, err)
        if source is None:
            return EXIT_USAGE
        diagnostics = check(source, path, network)
        for diag in diagnostics:
            print(render(diag, source, path), file=out)
        errors = sum(d.severity is Severity.ERROR for d in diagnostics)
        warnings = len(diagnostics) - errors
        if errors or (args.strict and warnings):
            worst = EXIT_ERRORS
        print(f"{path}: {errors} error(s), {warnings} warning(s)", file=out)
    return worst


def _fmt(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    worst = EXIT_OK
    for path in args.files:
        source = _read(path, err)
        if source is None:
            return EXIT_USAGE
        try:
            formatted = format_source(source, path)
        except RulesError as error:
            print(error.rendered(), file=err)
            worst = EXIT_ERRORS
            continue
        if formatted == source:
            continue
        if args.check:
            print(f"{path}: would reformat", file=out)
            worst = EXIT_ERRORS
        else:
            Path(path).write_text(formatted, encoding="utf-8")
            print(f"{path}: reformatted", file=out)
    return worst


def _test(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    worst = EXIT_OK
    for path in args.files:
        try:
            report = run_tests(path, args.cases)
        except RulesError as error:
            print(error.rendered(), file=err)
            worst = EXIT_ERRORS
            continue
        except FileError as error:
            print(error, file=err)
            return EXIT_USAGE
        print(report.render(verbose=args.verbose), file=out)
        if not report.passed:
            worst = EXIT_ERRORS
    return worst


def _parse_now(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC)
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _explain(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    source = _read(args.file, err)
    if source is None:
        return EXIT_USAGE
    network_file = args.network
    if network_file is None:
        sidecar = sidecar_path(args.file)
        if sidecar.exists():
            import tomllib

            name = tomllib.loads(sidecar.read_text(encoding="utf-8")).get("network")
            if isinstance(name, str):
                network_file = str(sidecar.parent / name)
    if network_file is None:
        print("rules explain: give --network FILE (a network TOML)", file=err)
        return EXIT_USAGE
    ok, network = _network(network_file, err)
    if not ok or network is None:
        return EXIT_USAGE
    try:
        now = _parse_now(args.now)
        order = order_from_file(args.order)
        levels = load_stock_levels(args.stock) if args.stock else None
    except (FileError, ValueError) as error:
        print(error, file=err)
        return EXIT_USAGE
    try:
        policy = RuleSet.compile(source, args.file, network)
    except RulesError as error:
        print(error.rendered(), file=err)
        return EXIT_ERRORS
    tags: dict[str, frozenset[str]] = {}
    for item in args.sku_tag or ():
        sku, _, tag_text = item.partition("=")
        tags[sku] = tags.get(sku, frozenset()) | frozenset(filter(None, tag_text.split(",")))
    try:
        text = explain(
            policy, order, network, now=now, stock_levels=levels, sku_tags=tags,
            stock_name=str(args.stock),
        )  # fmt: skip
    except FileError as error:
        print(error, file=err)
        return EXIT_USAGE
    print(text, file=out)
    return EXIT_OK


def add_subparser(subparsers: Any) -> None:
    """Add ``rules`` with its subcommands to a parent parser's ``add_subparsers()`` object."""
    rules = subparsers.add_parser(
        "rules", help="check, format, test and explain routing rules files"
    )
    commands = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")

    p = commands.add_parser("check", help="report errors and warnings as file:line:col")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--network", metavar="FILE", help="network TOML: check warehouse ids and tags")
    p.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    p.set_defaults(func=_check, handler=_check)

    p = commands.add_parser("fmt", help="rewrite files in the canonical layout")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if any would change"
    )
    p.set_defaults(func=_fmt, handler=_fmt)

    p = commands.add_parser("test", help="run the golden cases in FILE.test.toml next to FILE")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--cases", metavar="TOML", help="a test file other than the sidecar")
    p.add_argument("-v", "--verbose", action="store_true", help="show every decision")
    p.set_defaults(func=_test, handler=_test)

    p = commands.add_parser("explain", help="route one order and say what each rule did")
    p.add_argument("file", metavar="FILE")
    p.add_argument("order", metavar="ORDER.json")
    p.add_argument("--network", metavar="FILE", help="network TOML (default: the sidecar's)")
    p.add_argument("--stock", metavar="FILE", help="stock CSV (default: plenty everywhere)")
    p.add_argument("--now", metavar="TIME", help="the clock, e.g. 2026-11-20T15:00:00Z")
    p.add_argument(
        "--sku-tag", action="append", metavar="SKU=TAG[,TAG]", help="catalogue tags of a SKU"
    )
    p.set_defaults(func=_explain, handler=_explain)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sortyard")
    add_subparser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
