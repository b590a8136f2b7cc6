"""The Entra ID blueprint: every endpoint module of this package registers its routes on it."""

from __future__ import annotations

from flask import Blueprint, Response

blueprint = Blueprint("identity", __name__)

from graphpost.sandbox.identity import authorize, devicecode, discovery, token  # noqa: E402,F401
from graphpost.sandbox.identity.errors import EntraError  # noqa: E402


@blueprint.errorhandler(EntraError)
def _entra_error(failure: EntraError) -> Response:
    return failure.response()
