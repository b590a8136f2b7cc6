"""Sandbox throughput: GET /me and sendMail per second over keep-alive HTTPS, beside the same server
stack (cheroot + Flask + TLS, same certificate) answering a bare endpoint. Goal: at least half.

The three are measured in turns, round after round, and each ratio is the median of the rounds'
ratios: on a machine others share, a burst of their load then weighs on one round of all three
rather than on one of them.

    .venv/bin/python benchmarks/sandbox_throughput.py [--rounds 5] [--seconds 2] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from graphpost.sandbox.process import RunningSandbox, start_sandbox


def serve_bare(data_dir: Path) -> None:
    """The same stack as the sandbox with nothing behind it: Flask on cheroot with TLS."""
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter
    from flask import Flask, jsonify

    app = Flask("bare")

    @app.get("/bare")
    def bare() -> object:
        return jsonify({"ok": True})

    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=32, request_queue_size=64)
    server.ssl_adapter = BuiltinSSLAdapter(
        str(data_dir / "server-cert.pem"), str(data_dir / "server-key.pem")
    )
    server.prepare()
    print(server.bind_addr[1], flush=True)
    server.serve()


def measure(
    clients: int,
    seconds: float,
    make: Callable[[], httpx.Client],
    send: Callable[[httpx.Client], None],
) -> float:
    """Requests per second over `clients` keep-alive connections for `seconds`."""
    counts = [0] * clients
    deadline = time.perf_counter() + seconds
    start = threading.Barrier(clients + 1)

    def work(index: int) -> None:
        with make() as http:
            send(http)  # open the connection before the clock starts
            start.wait()
            while time.perf_counter() < deadline:
                send(http)
                counts[index] += 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="per measure, per round")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--bare-server", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        serve_bare(args.bare_server)
        return

    with tempfile.TemporaryDirectory() as folder:
        sandbox: RunningSandbox = start_sandbox(Path(folder) / "sandbox", "--userrealm-port", "0")
        bare = subprocess.Popen(
            [sys.executable, __file__, "--bare-server", str(sandbox.data_dir)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert bare.stdout is not None
            bare_url = f"https://127.0.0.1:{bare.stdout.readline().strip()}/bare"
            trust = ssl.create_default_context(cafile=sandbox.ca_file)
            token = sandbox.user_token("ada")
            grace = sandbox.user("grace")["mail"]
            mail = json.dumps(
                {
                    "message": {
                        "subject": "benchmark",
                        "toRecipients": [{"emailAddress": {"address": grace}}],
                    }
                }
            ).encode()

            def client() -> httpx.Client:
                return httpx.Client(
                    verify=trust, headers={"Authorization": f"Bearer {token}"}, timeout=30
                )

            def get_me(http: httpx.Client) -> None:
                http.get(f"{sandbox.graph_url}/me").raise_for_status()

            def send_mail(http: httpx.Client) -> None:
                http.post(
                    f"{sandbox.graph_url}/me/sendMail",
                    content=mail,
                    headers={"Content-Type": "application/json"},
                ).raise_for_status()

            def get_bare(http: httpx.Client) -> None:
                http.get(bare_url).raise_for_status()

            # at most 4 at once per app and mailbox: Outlook's own limit, which the sandbox enforces
            clients = min(args.clients, 4)
            rounds = []
            for _ in range(args.rounds):
                rounds.append(
                    [
                        measure(clients, args.seconds, client, send)
                        for send in (get_bare, get_me, send_mail)
                    ]
                )
        finally:
            bare.terminate()
            bare.wait()
            sandbox.stop()

    bare_rate = statistics.median(r[0] for r in rounds)
    print(
        f"{clients} keep-alive HTTPS clients, {args.rounds} rounds of {args.seconds:g} s each"
        " (medians; the spread is the rounds' lowest and highest ratio)"
    )
    print(f"  bare endpoint (same stack)   {bare_rate:8.0f} req/s")
    for index, name in ((1, "GET /me"), (2, "POST /me/sendMail")):
        rate = statistics.median(r[index] for r in rounds)
        ratios = [r[index] / r[0] for r in rounds]
        print(
            f"  {name:<28} {rate:8.0f} req/s   {statistics.median(ratios):.2f} of bare"
            f" (spread {min(ratios):.2f}-{max(ratios):.2f}; goal >= 0.50)"
        )
    print(
        "  rounds (bare, me, sendMail): "
        + "; ".join(" ".join(f"{x:.0f}" for x in r) for r in rounds)
    )


if __name__ == "__main__":
    main()
