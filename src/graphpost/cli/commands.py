"""The subcommands and their options; each one imports its part of graphpost only when run."""

from __future__ import annotations

import argparse
import importlib
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


def _lazy(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    """The command's code, imported when it runs (`import graphpost.cli` stays light)."""

    def run(args: argparse.Namespace) -> int:
        code: int = getattr(importlib.import_module(f"graphpost.cli.{module}"), function)(args)
        return code

    return run


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _command(
    sub: Any, name: str, runs: str, summary: str, description: str, json: bool = True, **more: Any
) -> argparse.ArgumentParser:
    """A subcommand run by `runs` ("module:function" in graphpost.cli), with --json if it prints
    data."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=description, **more
    )
    if json:
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=_lazy(*runs.split(":")))
    return parser


def add_all(sub: Any) -> None:
    add_servers(sub)
    add_account(sub)
    add_mail(sub)
    add_files(sub)


def add_account(sub: Any) -> None:
    login = _command(
        sub,
        "login",
        "signin:run_login",
        "sign in (in the browser, or with a code on another device)",
        "Sign in as yourself: in the web browser (auth code with PKCE, answered on a"
        " loopback address), or with --device-code on any device. The tokens stay in a private"
        " file (mode 0600) under $GRAPHPOST_HOME/cli.",
    )
    login.add_argument(
        "--device-code",
        action="store_true",
        help="print an address and a code to sign in with on another device, and wait",
    )
    login.add_argument(
        "--timeout",
        type=_positive,
        default=600,
        help="give up after this many seconds (default 600)",
    )
    _command(
        sub,
        "logout",
        "signin:run_logout",
        "sign out: forget the signed-in account and its tokens",
        "Forget the signed-in account and remove its token cache.",
        json=False,
    )
    _command(
        sub,
        "whoami",
        "signin:run_whoami",
        "show who is signed in (asks Graph)",
        "Show the signed-in person, as Graph's /me sees them.",
    )


def add_mail(sub: Any) -> None:
    send = _command(
        sub,
        "send",
        "send:run_send",
        "send a mail, or one mail per row of a CSV (--each)",
        # hard-wrapped: this help keeps its lines, for the examples below
        "Send one mail as the signed-in person (or, with --from, as any user through the app's\n"
        "own permission). With --each FILE.csv, send one mail per row: {column} placeholders\n"
        "in --subject, the body, --cc, --bcc and --attach are filled from the row, and the\n"
        "recipient is its email column. The whole CSV is checked before anything is sent, and\n"
        "a journal under $GRAPHPOST_HOME/merges lets a re-run after an interruption send only\n"
        "the rows not yet sent: nobody gets a mail twice.",
        epilog="examples:\n"
        "  graphpost send --to grace@example.com --subject Hi --body 'See you at 3'\n"
        "  report | graphpost send --to 'a@example.com; b@example.com' --subject Report --html\n"
        "  graphpost send --each people.csv --subject 'Hello {name}' --body-file note.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, what in (("--to", "To"), ("--cc", "Cc"), ("--bcc", "Bcc")):
        send.add_argument(
            flag,
            action="append",
            default=[],
            metavar="ADDRESSES",
            help=f"{what} recipients, separated by ';' or ','; repeatable",
        )
    send.add_argument("--subject", default="", help="the subject")
    body = send.add_mutually_exclusive_group()
    body.add_argument("--body", help="the body (else --body-file, else standard input)")
    body.add_argument("--body-file", metavar="FILE", help="read the body from FILE ('-': stdin)")
    send.add_argument("--html", action="store_true", help="the body is HTML (default: text)")
    send.add_argument(
        "--attach",
        action="append",
        default=[],
        metavar="FILE",
        help="attach FILE, of any size up to Outlook's 150 MB; repeatable",
    )
    send.add_argument(
        "--from",
        dest="sender",
        metavar="USER",
        help="send as USER (id or address) with the app's own permission (client credentials)",
    )
    send.add_argument("--each", metavar="FILE.csv", help="mail merge: one mail per row of FILE.csv")
    send.add_argument(
        "--again",
        action="store_true",
        help="with --each: once every row of this merge was sent, start a new merge and send every"
        " row again (a merge that has not sent every row goes on: no row is sent twice)",
    )
    send.add_argument(
        "--continue",
        dest="carry_on",
        action="store_true",
        help="with --each: go on with the CSV's unfinished merge although the message changed"
        " (a typo fixed): only the rows it has not sent are sent",
    )
    send.add_argument(
        "--dry-run",
        action="store_true",
        help="with --each: check the CSV and show each mail, send nothing",
    )

    inbox = _command(
        sub,
        "inbox",
        "inbox:run_inbox",
        "list the newest messages",
        "List the newest messages of the inbox (or another folder), following Graph's pages.",
    )
    inbox.add_argument(
        "--top", type=_positive, default=None, help="how many (default 10; with --all, a page)"
    )
    inbox.add_argument("--all", action="store_true", help="every message, page after page")
    inbox.add_argument(
        "--folder", default="inbox", help="a folder id or well-known name (default inbox)"
    )


def add_files(sub: Any) -> None:
    upload = _command(
        sub,
        "upload",
        "files:run_upload",
        "put a file of any size in OneDrive (resumable)",
        "Upload FILE to OneDrive at REMOTE (default: its name, at the root; a REMOTE"
        " ending in '/' is a folder). Large files go through an upload session: after an"
        " interruption, the same command continues where it stopped.",
    )
    upload.add_argument("file", metavar="FILE")
    upload.add_argument("remote", metavar="REMOTE", nargs="?", help="path in OneDrive")
    upload.add_argument(
        "--conflict",
        choices=("replace", "fail", "rename"),
        default="replace",
        help="when REMOTE exists (default replace)",
    )

    download = _command(
        sub,
        "download",
        "files:run_download",
        "fetch a OneDrive file (streaming, resumable)",
        "Download REMOTE from OneDrive to FILE (default: its name, here). It streams"
        " to FILE.part; after an interruption, the same command continues where it stopped.",
    )
    download.add_argument("remote", metavar="REMOTE", help="path in OneDrive")
    download.add_argument("file", metavar="FILE", nargs="?", help="local file or folder")

    link = _command(
        sub,
        "link",
        "files:run_link",
        "print a sharing link to a OneDrive file",
        "Create (or get again) a sharing link to REMOTE and print its URL.",
    )
    link.add_argument("remote", metavar="REMOTE", help="path in OneDrive")
    link.add_argument(
        "--type",
        choices=("view", "edit"),
        default="view",
        help="what the link allows (default view)",
    )
    link.add_argument(
        "--scope",
        choices=("anonymous", "organization"),
        default=None,
        help="who it works for (default: the tenant's setting)",
    )


def add_servers(sub: Any) -> None:
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
