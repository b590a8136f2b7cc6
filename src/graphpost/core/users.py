"""Users and profile photos: ``GET /me``, ``GET /users/{id}``, ``GET …/photo/$value``."""

from __future__ import annotations

from collections.abc import Sequence

from graphpost.core.common import graph_request, odata_params, owner_path
from graphpost.core.errors import error_from_response, expect_ok
from graphpost.core.http import Operation
from graphpost.models import Photo, User

__all__ = ["PHOTO_SIZES", "get_me", "get_photo", "get_user"]

PHOTO_SIZES = (
    "48x48",
    "64x64",
    "96x96",
    "120x120",
    "240x240",
    "360x360",
    "432x432",
    "504x504",
    "648x648",
)

# A 404 with this code means the *user* does not exist: that is an error, not "no photo"
_NO_SUCH_USER = "Request_ResourceNotFound"


def get_me(select: Sequence[str] | None = None) -> Operation[User]:
    """The signed-in user (delegated tokens only: an app token has no "me")."""
    return get_user("me", select)


def get_user(id_or_upn: str, select: Sequence[str] | None = None) -> Operation[User]:
    response = expect_ok(
        (yield graph_request("GET", owner_path(id_or_upn), params=odata_params(select)))
    )
    return User.from_json(response.json() or {})


def get_photo(user: str = "me", size: str | None = None) -> Operation[Photo | None]:
    """The user's photo, or None when they have none (Graph's 404 ``ImageNotFound`` and kin).

    One request: the media type comes from the ``$value`` response's Content-Type, so
    the metadata call the sample made (``/photo`` after ``/photo/$value``) is not needed.
    """
    if size is not None and size not in PHOTO_SIZES:
        raise ValueError(f"size must be one of {', '.join(PHOTO_SIZES)}")
    path = (
        f"{owner_path(user)}/photos/{size}/$value" if size else f"{owner_path(user)}/photo/$value"
    )
    response = yield graph_request("GET", path)
    if response.status == 404:
        error = error_from_response(response)
        if error.code != _NO_SUCH_USER:
            return None
        raise error
    expect_ok(response)
    return Photo.from_content(response.content, response.header("content-type"))
