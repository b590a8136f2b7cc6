"""Installed size of what sending mail needs: a fresh venv with graphpost (no extras) against one
with msgraph-sdk + azure-identity. Both venvs start the same (python -m venv, pip), so the ratio
is of what each install added. Goal: under a fifth.

The venvs are kept (under /tmp/graphpost-bench-venvs) for the cold start and import benchmarks,
which run in them too: a cron job has only what it installed.

    .venv/bin/python -m benchmarks.installed_size [--rebuild]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.support import MIB

ROOT = Path(__file__).resolve().parent.parent
VENVS = Path(
    os.environ.get("GRAPHPOST_BENCH_VENVS") or Path(tempfile.gettempdir()) / "graphpost-bench-venvs"
)
WANTS = {"empty": [], "ours": [str(ROOT)], "sdk": ["msgraph-sdk", "azure-identity"]}


def python_of(name: str) -> str:
    return str(VENVS / name / "bin" / "python")


def build(name: str, rebuild: bool = False) -> Path:
    """The venv `name`, made if missing (or `rebuild`), with its packages installed."""
    folder = VENVS / name
    if rebuild and folder.exists():
        shutil.rmtree(folder)
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        if WANTS[name]:
            subprocess.run(
                [python_of(name), "-m", "pip", "install", "-q", "--no-cache-dir", *WANTS[name]],
                check=True,
                stderr=subprocess.DEVNULL,  # pip's notes on its configuration, not ours
            )
        (folder / ".complete").touch()
    return folder


def with_current_graphpost() -> str:
    """The "ours" venv's Python, with this checkout's graphpost in it (reinstalled: the venv
    keeps the copy it was built with)."""
    build("ours")
    subprocess.run(
        [
            python_of("ours"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--force-reinstall",
            str(ROOT),
        ],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return python_of("ours")


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    sizes = {name: size(build(name, args.rebuild)) for name in WANTS}
    ours, theirs = sizes["ours"] - sizes["empty"], sizes["sdk"] - sizes["empty"]
    print("installed size, fresh venvs (python -m venv, then pip install)")
    print(f"  empty venv (pip)                   {sizes['empty'] / MIB:8.1f} MiB")
    print(
        f"  graphpost                     adds {ours / MIB:8.1f} MiB  (venv {sizes['ours'] / MIB:.1f} MiB)"
    )
    print(
        f"  msgraph-sdk + azure-identity  adds {theirs / MIB:8.1f} MiB  (venv {sizes['sdk'] / MIB:.1f} MiB)"
    )
    print(f"  ratio {ours / theirs:.3f}   (goal < 0.20)")
    for name in ("ours", "sdk"):
        listed = subprocess.run(
            [python_of(name), "-m", "pip", "list", "--format=freeze"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        print(f"  {name}: {len(listed)} distributions: {' '.join(sorted(listed))}")


if __name__ == "__main__":
    main()
