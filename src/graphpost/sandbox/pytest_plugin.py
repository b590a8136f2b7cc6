"""pytest plugin: a `graph_sandbox` fixture that runs a real sandbox for the whole test session.

The sandbox runs as its own process on a free loopback port, in a temporary folder,
and is stopped when the session ends.  Enabled by the `pytest11` entry point.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graphpost.sandbox.process import RunningSandbox, start_sandbox

__all__ = ["RunningSandbox", "graph_sandbox"]


@pytest.fixture(scope="session")
def graph_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """A running graphpost sandbox for this test session (seeded tenant, HTTPS on 127.0.0.1)."""
    running = start_sandbox(tmp_path_factory.mktemp("graph-sandbox"))
    try:
        yield running
    finally:
        running.stop()
