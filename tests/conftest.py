"""Shared test set-up: the `graph_sandbox` fixture comes from graphpost's own pytest plugin."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _requests_honours_verify() -> None:
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify=`, so MSAL
    (which uses requests) would ignore the sandbox CA we hand it; tests run as a user who has
    not set them."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ.pop(name, None)


@pytest.fixture(autouse=True, scope="session")
def _session_sandbox_first(request: pytest.FixtureRequest) -> None:
    """Start the session's sandbox before any test starts one of its own (a `graphpost demo`, say):
    the first sandbox on the machine answers MSAL's user-realm lookup on port 443, and the identity
    tests need that to be the session's, which outlives the others."""
    if any("graph_sandbox" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("graph_sandbox")


@pytest.fixture(autouse=True)
def _a_quiet_sandbox(request: pytest.FixtureRequest) -> None:
    """Each test meets the session's sandbox with no fault left by another, and with no answer a
    fault of another test is still holding back (it would be logged during this test)."""
    if "graph_sandbox" in request.fixturenames:
        request.getfixturevalue("graph_sandbox").clear_faults()
