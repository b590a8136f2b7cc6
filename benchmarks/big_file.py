"""1 GiB through OneDrive: graphpost's upload (a resumable session, chunks of a tenth of the file
up to just under 60 MiB, streamed a MiB at a time) and download
(one streaming GET, kept in a .part file) against raw httpx moving the same bytes in as few
requests as Graph allows (fragments just under its 60 MiB cap, each a streaming PUT; one
streaming GET). Every transfer runs in a fresh process, timed inside it; graphpost's peak RSS is
that process's. Goal: at least 80% of the raw throughput, peak under 100 MiB.

    .venv/bin/python -m benchmarks.big_file [--mib 1024]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import tempfile
import uuid
from pathlib import Path

from benchmarks.support import MIB, median, run_python, sandbox

OURS_UP = """
import sys, time
from graphpost import Graph
with Graph(sys.argv[1], graph_url=sys.argv[2], verify=sys.argv[3], state_dir=sys.argv[6]) as graph:
    began = time.perf_counter()
    item = graph.upload(sys.argv[4], sys.argv[5])
    print(time.perf_counter() - began, item.raw["file"]["hashes"]["sha256Hash"])
"""

OURS_DOWN = """
import sys, time
from graphpost import Graph
with Graph(sys.argv[1], graph_url=sys.argv[2], verify=sys.argv[3]) as graph:
    began = time.perf_counter()
    graph.download(sys.argv[5], sys.argv[4])
    print(time.perf_counter() - began, "-")
"""

# the same bytes with httpx and nothing else: a session, then fragments as big as Graph takes
RAW_UP = """
import os, ssl, sys, time
import httpx
token, graph, ca, remote, source = sys.argv[1:6]
FRAGMENT = 187 * 320 * 1024  # the largest multiple of 320 KiB under 60 MiB
size = os.path.getsize(source)

def chunks(start, length):
    with open(source, "rb") as data:
        data.seek(start)
        while length:
            block = data.read(min(length, 1024 * 1024))
            length -= len(block)
            yield block

with httpx.Client(verify=ssl.create_default_context(cafile=ca), timeout=120) as http:
    began = time.perf_counter()
    session = http.post(
        f"{graph}/me/drive/root:/{remote}:/createUploadSession",
        headers={"Authorization": f"Bearer {token}"}, json={},
    ).raise_for_status().json()
    for start in range(0, size, FRAGMENT):
        end = min(start + FRAGMENT, size) - 1
        answer = http.put(
            session["uploadUrl"], content=chunks(start, end - start + 1),
            headers={"Content-Range": f"bytes {start}-{end}/{size}", "Content-Length": str(end - start + 1)},
        ).raise_for_status()
    print(time.perf_counter() - began, answer.json()["file"]["hashes"]["sha256Hash"])
"""

RAW_DOWN = """
import ssl, sys, time
import httpx
token, graph, ca, remote, target = sys.argv[1:6]
with httpx.Client(verify=ssl.create_default_context(cafile=ca), timeout=120) as http:
    began = time.perf_counter()
    item = http.get(
        f"{graph}/me/drive/root:/{remote}", headers={"Authorization": f"Bearer {token}"}
    ).raise_for_status().json()
    with http.stream("GET", item["@microsoft.graph.downloadUrl"]) as answer, open(target, "wb") as out:
        for block in answer.iter_bytes(1024 * 1024):
            out.write(block)
    print(time.perf_counter() - began, "-")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.mib * MIB
    seconds: dict[str, list[float]] = collections.defaultdict(list)
    peaks: dict[str, list[float]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="graphpost-bench-") as folder, sandbox() as running:
        source = Path(folder) / "big.bin"
        digest = hashlib.sha256()
        with open(source, "wb") as out:
            for _ in range(args.mib):
                block = os.urandom(MIB)
                digest.update(block)
                out.write(block)
        expected = digest.hexdigest().upper()
        token = running.user_token("ada", scopes="Files.ReadWrite")
        common = (token, running.graph_url, running.ca_file)
        ways = [("ours", OURS_UP, OURS_DOWN), ("raw", RAW_UP, RAW_DOWN)]
        for round_number in range(args.rounds):
            # in turns, the first one changing each round: load others put on the machine then
            # weighs on both
            for label, up, down in ways if round_number % 2 == 0 else ways[::-1]:
                remote = f"bench/{label}-{uuid.uuid4().hex[:6]}.bin"
                target = Path(folder) / f"{label}.copy"
                sent = run_python(up, *common, remote, str(source), str(Path(folder) / "state"))
                took, sha = sent.stdout.split()
                assert sha == expected, f"{label} upload arrived damaged"
                seconds[f"{label} upload"].append(float(took))
                peaks[f"{label} upload"].append(sent.peak_mib)
                got = run_python(down, *common, remote, str(target))
                seconds[f"{label} download"].append(float(got.stdout.split()[0]))
                peaks[f"{label} download"].append(got.peak_mib)
                assert target.stat().st_size == size
                target.unlink()
    print(
        f"{args.mib} MiB through the sandbox's OneDrive, fresh processes, median of {args.rounds}"
    )
    for way in ("upload", "download"):
        ours, raw = median(seconds[f"ours {way}"]), median(seconds[f"raw {way}"])
        print(
            f"  {way:<8} ours {size / MIB / ours:7.1f} MiB/s  raw {size / MIB / raw:7.1f} MiB/s"
            f"  ratio {raw / ours:5.2f} (goal >= 0.80)"
            f"   peak RSS ours {max(peaks[f'ours {way}']):6.1f} MiB (goal < 100)"
            f"  raw {max(peaks[f'raw {way}']):6.1f} MiB"
        )


if __name__ == "__main__":
    main()
