"""The subcommands and their options; each one imports its part of graphpost only when run."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Stopped by SIGINT or SIGTERM; tests and service managers send the latter
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0 (any free port) to 65535")
    return value


def say(text: str) -> None:
    print(text, flush=True)


def complain(text: str) -> None:
    print(f"graphpost: {text}", file=sys.stderr, flush=True)


def run_until_interrupted(stop: Callable[[], None]) -> int:
    """Block until Ctrl-C or SIGTERM, then `stop()` and report success."""
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in STOP_SIGNALS}
    try:
        stopping.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop()
    return 0


def add_all(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="start the sandbox and the web app wired to it, and say how to sign in",
        description="Start a local sandbox tenant and the web app wired to it; Ctrl-C stops both.",
    )
    demo.add_argument(
        "--port", type=_port, default=5000, help="web app port (default 5000; 0 picks free ports)"
    )
    demo.add_argument(
        "--sandbox-port", type=_port, default=None, help="sandbox port (default 8443)"
    )
    demo.set_defaults(run=run_demo)

    web = sub.add_parser(
        "web",
        help="run the web app against the configured tenant",
        description="Serve the web app (production WSGI server) against real Entra ID or a sandbox.",
    )
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    web.add_argument(
        "--port", type=_port, default=5000, help="port (default 5000; 0 picks a free one)"
    )
    web.add_argument("--threads", type=int, default=16, help="worker threads (default 16)")
    web.set_defaults(run=run_web)

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
        "--no-throttling",
        action="store_true",
        help="turn off Outlook's limits (4 concurrent requests and 10,000 per 10 minutes per app and mailbox)",
    )
    sandbox.add_argument(
        "--userrealm-port",
        type=_port,
        default=443,
        help="also answer MSAL's user-realm lookup on this port (MSAL drops the authority's port); 0 = off",
    )
    sandbox.set_defaults(run=run_sandbox)


def _home() -> Path:
    from graphpost.config import default_home

    return default_home()


def run_sandbox(args: argparse.Namespace) -> int:
    from graphpost.sandbox.server import SandboxServer

    data = args.data or _home() / "sandbox"
    try:
        server = SandboxServer(
            data,
            host=args.host,
            port=args.port,
            latency_ms=args.latency_ms,
            throttling=not args.no_throttling,
            userrealm_port=args.userrealm_port or None,
        )
        info = server.start()
    except OSError as failure:
        complain(
            f"cannot start the sandbox on {args.host}:{args.port}: {failure.strerror or failure}"
        )
        return 1
    say(f"graphpost sandbox on {info['portal_url']} (data in {data})")
    say(f"  authority  {info['authority']}")
    say(f"  graph      {info['graph_url']}")
    say(f"  CA file    {info['ca_file']}")
    say(f"  details    {server.info_path}")
    for note in server.notes:
        complain(note)
    return run_until_interrupted(server.stop)


def run_web(args: argparse.Namespace) -> int:
    from graphpost.web import ConfigurationError, create_app
    from graphpost.web.serve import WebServer

    try:
        app = create_app()
    except ConfigurationError as problem:
        complain(str(problem))
        return 2
    server = WebServer(app, args.host, args.port, args.threads)
    try:
        url = server.start()
    except OSError as failure:
        complain(f"cannot listen on {args.host}:{args.port}: {failure.strerror or failure}")
        return 1
    say(f"graphpost web app on {url}")
    return run_until_interrupted(server.stop)


def run_demo(args: argparse.Namespace) -> int:
    from graphpost.config import Settings
    from graphpost.sandbox.process import start_sandbox
    from graphpost.web import create_app
    from graphpost.web.serve import WebServer

    home = _home()
    data = home / "sandbox"
    sandbox_port = (
        args.sandbox_port if args.sandbox_port is not None else (0 if args.port == 0 else 8443)
    )
    try:
        sandbox = start_sandbox(data, port=sandbox_port)
    except RuntimeError:
        if sandbox_port == 0:
            raise
        sandbox = start_sandbox(data, port=0)  # 8443 is taken: any free port will do
    try:
        settings = Settings.from_sandbox(data, app="web", home=home)
        server = WebServer(create_app(settings), "127.0.0.1", args.port)
        url = server.start()
    except BaseException as failure:
        sandbox.stop()
        if isinstance(failure, OSError):
            complain(f"cannot listen on 127.0.0.1:{args.port}: {failure.strerror or failure}")
            return 1
        raise
    person = sandbox.users[0]
    say("graphpost demo is running.")
    say("")
    say(f"  1. Open the web app:   {url}")
    say(f"  2. Sign in as          {person['userPrincipalName']}")
    say(f"     with the password   {person['password']}")
    say(f"     (every account is in {sandbox.data_dir / 'sandbox.json'})")
    say(f"  3. See every mailbox:  {sandbox.info['portal_url']}")
    say("")
    say(f"The sandbox signs in over HTTPS with its own certificate authority ({sandbox.ca_file});")
    say("your browser will warn about it once: continue, or import that file as a trusted CA.")
    say("Press Ctrl-C to stop.")

    def stop() -> None:
        server.stop()
        sandbox.stop()
        say("graphpost demo stopped.")

    return run_until_interrupted(stop)
