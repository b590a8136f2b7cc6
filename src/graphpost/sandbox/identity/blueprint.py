"""The Entra ID blueprint that the endpoint modules of this package register their routes on."""

from __future__ import annotations

from flask import Blueprint, Response

from graphpost.sandbox.identity.errors import EntraError

blueprint = Blueprint("identity", __name__)


@blueprint.errorhandler(EntraError)
def _entra_error(failure: EntraError) -> Response:
    return failure.response()
