"""The `graphpost` command: each subcommand loads only what it needs."""

from __future__ import annotations

import argparse
import os
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
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        commands.complain("interrupted")
        return 130
    except BrokenPipeError:
        # the reader went away (`graphpost inbox | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as failure:
        from graphpost.cli.failures import explain

        known = explain(failure)
        if known is None:
            raise
        code, line = known
        # bad usage is named after the command, as argparse does; a failure after graphpost
        prefix = f"graphpost {args.command}" if code == 2 else "graphpost"
        print(f"{prefix}: {line}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
