"""The subcommands and their options; each one imports its part of graphpost only when run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0 (any free port) to 65535")
    return value


def _default_home() -> Path:
    import os

    import platformdirs

    return Path(os.environ.get("GRAPHPOST_HOME") or platformdirs.user_data_path("graphpost"))


def add_all(sub: Any) -> None:
    sandbox = sub.add_parser(
        "sandbox",
        help="run the local Entra ID + Graph sandbox in the foreground",
        description="Run a local Microsoft Entra ID and Graph v1.0 over HTTPS, with a seeded tenant.",
    )
    sandbox.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    sandbox.add_argument(
        "--port", type=_port, default=8443, help="port (default 8443; 0 picks a free one)"
    )
    sandbox.add_argument(
        "--data", type=Path, default=None, help="data folder (default $GRAPHPOST_HOME/sandbox)"
    )
    sandbox.add_argument(
        "--latency-ms", type=int, default=0, help="service time added to every Graph request"
    )
    sandbox.add_argument(
        "--userrealm-port",
        type=_port,
        default=443,
        help="also answer MSAL's user-realm lookup on this port (MSAL drops the authority's port); 0 = off",
    )
    sandbox.set_defaults(run=run_sandbox)


def run_sandbox(args: argparse.Namespace) -> int:
    from graphpost.sandbox.server import SandboxServer, serve_forever

    data = args.data or _default_home() / "sandbox"
    server = SandboxServer(
        data,
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        userrealm_port=args.userrealm_port or None,
    )

    def announce(info: dict[str, Any]) -> None:
        print(f"graphpost sandbox on {info['portal_url']} (data in {data})", flush=True)
        print(f"  authority  {info['authority']}", flush=True)
        print(f"  graph      {info['graph_url']}", flush=True)
        print(f"  CA file    {info['ca_file']}", flush=True)
        print(f"  details    {server.info_path}", flush=True)

    try:
        return serve_forever(server, announce)
    except OSError as failure:
        print(
            f"graphpost sandbox: cannot listen on {args.host}:{args.port}: {failure.strerror}",
            file=sys.stderr,
        )
        return 1
