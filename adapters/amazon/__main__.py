"""`python -m adapters.amazon adapter amazon ...`: the same commands as `sortyard`, without loading
the server's CLI (a lighter process for cron jobs and the crash tests)."""

from __future__ import annotations

import argparse
import sys

from adapters.amazon.cli import add_subparser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adapters.amazon")
    add_subparser(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
