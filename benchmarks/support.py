"""What the benchmarks share: a sandbox of their own, fresh Python processes measured (wall time
from outside, peak RSS from /proc inside), medians and ratio lines.

Linux only (/proc), like the sandbox's server; run from the repository root as
``.venv/bin/python -m benchmarks.<name>``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from graphpost.sandbox.process import RunningSandbox, start_sandbox

MIB = 1024 * 1024


@contextlib.contextmanager
def sandbox(*args: str) -> Iterator[RunningSandbox]:
    """A sandbox in a temporary folder, stopped (and its folder removed) afterwards."""
    with tempfile.TemporaryDirectory(prefix="graphpost-bench-") as folder:
        running = start_sandbox(Path(folder) / "sandbox", "--userrealm-port", "0", *args)
        try:
            yield running
        finally:
            running.stop()


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mib: float
    stdout: str


# Peak RSS from inside: the kernel's high-water mark of the process's own memory once it runs
# the program (ru_maxrss would count the parent's pages the child had before exec).
_PEAK = """
import atexit as _atexit, os as _os

def _graphpost_bench_peak():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(_os.environ["GRAPHPOST_BENCH_PEAK"], "w") as out:
        out.write(peak)

_atexit.register(_graphpost_bench_peak)
"""


def run_python(
    code: str, *args: str, env: dict[str, str] | None = None, python: str = sys.executable
) -> Run:
    """Run `code` in a fresh interpreter: its wall time from spawn to exit, its peak RSS."""
    with tempfile.TemporaryDirectory(prefix="graphpost-bench-") as folder:
        script, peak = Path(folder) / "program.py", Path(folder) / "peak"
        script.write_text(_PEAK + code)
        began = time.perf_counter()
        done = subprocess.run(
            [python, str(script), *args],
            capture_output=True,
            env={**os.environ, **(env or {}), "GRAPHPOST_BENCH_PEAK": str(peak)},
        )
        seconds = time.perf_counter() - began
        if done.returncode:
            raise RuntimeError(f"benchmark program failed:\n{done.stderr.decode(errors='replace')}")
        return Run(seconds, int(peak.read_text()) / 1024, done.stdout.decode())


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio_line(label: str, ours: float, theirs: float, unit: str, goal: str = "") -> str:
    text = f"  {label:<34} ours {ours:9.2f} {unit:<4} theirs {theirs:9.2f} {unit:<4} ratio {ours / theirs:6.3f}"
    return text + (f"   (goal {goal})" if goal else "")


def sent_count(running: RunningSandbox, user_id: str, subject: str) -> int:
    """How many mails with `subject` are in the user's Sent Items."""
    from graphpost import Graph

    with Graph(running.app_token(), graph_url=running.graph_url, verify=running.ca_file) as graph:
        found = graph.messages("sentitems", top=1000, user=user_id, select=["subject"])
        return sum(1 for message in found if message.subject == subject)


def subjects(running: RunningSandbox, user_id: str, folder: str, prefix: str) -> list[str]:
    """Every subject starting with `prefix` in a folder of the user's mailbox (all pages)."""
    import httpx

    found: list[str] = []
    url: str | None = f"{running.graph_url}/users/{user_id}/mailFolders/{folder}/messages"
    params: dict[str, str] | None = {
        "$filter": f"startswith(subject,'{prefix}')",
        "$select": "subject",
        "$top": "1000",
    }
    with httpx.Client(
        verify=running.ca_file,
        headers={"Authorization": f"Bearer {running.app_token()}"},
        timeout=60,
    ) as http:
        while url:
            page = http.get(url, params=params).raise_for_status().json()
            found.extend(str(m.get("subject")) for m in page["value"])
            url, params = page.get("@odata.nextLink"), None
    return found
