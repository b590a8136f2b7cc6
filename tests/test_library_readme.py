"""The README's library examples, run as written against the sandbox (its people for contoso.com's)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graphpost.sandbox.process import RunningSandbox

README = Path(__file__).resolve().parent.parent / "README.md"


def library_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The library\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


@pytest.mark.parametrize("number", range(len(library_examples())))
def test_the_readme_examples_run(
    graph_sandbox: RunningSandbox, tmp_path: Path, number: int
) -> None:
    code = library_examples()[number]
    for person in ("ada", "grace"):
        code = code.replace(f"{person}@contoso.com", graph_sandbox.user(person)["mail"])
    code = code.replace("bo@contoso.com", graph_sandbox.user("katherine")["mail"])
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4 " + os.urandom(4 * 1024 * 1024))  # 3 MB+
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={
            **os.environ,
            "GRAPHPOST_SANDBOX": str(graph_sandbox.data_dir),
            "GRAPHPOST_HOME": str(tmp_path / "home"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()  # every example prints what it got
    if number == 0:
        assert (tmp_path / "copy.pdf").read_bytes() == (tmp_path / "report.pdf").read_bytes()
