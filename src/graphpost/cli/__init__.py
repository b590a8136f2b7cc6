"""The `graphpost` command: each subcommand loads only what it needs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from graphpost.cli import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphpost",
        description="Send mail and move OneDrive files through Microsoft Graph, or run a local sandbox.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_all(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
