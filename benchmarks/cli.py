"""``sortyard bench [--quick] [--only NAME] [--pg-url URL]``: mounted by the top-level CLI."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks._config import RESULTS_DIR, BenchConfig
from benchmarks._suite import SECTIONS, run_suite

__all__ = ["add_subparser", "main"]


def add_subparser(subparsers: Any) -> None:
    """Add the ``bench`` command to an argparse sub-parser collection."""
    parser = subparsers.add_parser(
        "bench",
        help=(
            "run the benchmark suite (speed, gRPC ceiling, store, quality, scaling, memory,"
            " optimiser)"
        ),
        description="Measure Sortyard against its baselines; writes JSON, Markdown and PNG plots "
        "under benchmarks/results/.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SECTIONS),
        metavar="NAME",
        help=f"run only this section (repeatable): {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--pg-url",
        default=None,
        help="PostgreSQL server URL for the PostgreSQL figures (default: $SORTYARD_TEST_PG_URL); "
        "the suite creates and drops its own database there",
    )
    parser.add_argument("--seed", type=int, default=7, help="scenario seed")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    config = BenchConfig(
        quick=args.quick, seed=args.seed, out_dir=args.out, only=tuple(args.only or ())
    )
    if args.pg_url:
        config = BenchConfig(
            quick=config.quick,
            seed=config.seed,
            out_dir=config.out_dir,
            only=config.only,
            pg_url=args.pg_url,
        )
    outcome = run_suite(config)
    return 1 if any(r.error for r in outcome.results) else 0
