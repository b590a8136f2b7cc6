"""1 GiB through OneDrive: graphpost's upload (a resumable session, 10 MiB chunks) and download
(one streaming GET, kept in a .part file) against raw httpx moving the same bytes in as few
requests as Graph allows (fragments just under its 60 MiB cap, each a streaming PUT; one
streaming GET). Every transfer runs in a fresh process, timed inside it; graphpost's peak RSS is
that process's. Goal: at least 80% of the raw throughput, peak under 100 MiB.

    .venv/bin/python -m benchmarks.big_file [--mib 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import uuid
from pathlib import Path

from benchmarks.support import MIB, run_python, sandbox

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
    args = parser.parse_args()
    size = args.mib * MIB
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
        results: dict[str, tuple[float, float]] = {}
        for label, up, down in (("raw", RAW_UP, RAW_DOWN), ("ours", OURS_UP, OURS_DOWN)):
            remote = f"bench/{label}-{uuid.uuid4().hex[:6]}.bin"
            target = Path(folder) / f"{label}.copy"
            sent = run_python(up, *common, remote, str(source), str(Path(folder) / "state"))
            seconds, sha = sent.stdout.split()
            assert sha == expected, f"{label} upload arrived damaged"
            results[f"{label} upload"] = (float(seconds), sent.peak_mib)
            got = run_python(down, *common, remote, str(target))
            results[f"{label} download"] = (float(got.stdout.split()[0]), got.peak_mib)
            assert target.stat().st_size == size
            target.unlink()
    print(f"{args.mib} MiB through the sandbox's OneDrive, fresh processes")
    for way in ("upload", "download"):
        ours, raw = results[f"ours {way}"], results[f"raw {way}"]
        print(
            f"  {way:<8} ours {size / MIB / ours[0]:7.1f} MiB/s  raw {size / MIB / raw[0]:7.1f} MiB/s"
            f"  ratio {raw[0] / ours[0]:5.2f} (goal >= 0.80)   peak RSS ours {ours[1]:6.1f} MiB"
            f" (goal < 100)  raw {raw[1]:6.1f} MiB"
        )


if __name__ == "__main__":
    main()
