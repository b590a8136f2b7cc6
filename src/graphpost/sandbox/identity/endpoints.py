"""All of Entra ID's endpoints, registered on one blueprint."""

from __future__ import annotations

from flask import Blueprint


def identity_blueprint() -> Blueprint:
    # importing the endpoint modules registers their routes
    from graphpost.sandbox.identity import authorize, devicecode, discovery, token  # noqa: F401
    from graphpost.sandbox.identity.blueprint import blueprint

    return blueprint
