"""Users and photos as plain data: the requests the operations make, and what they make of the answers."""

from __future__ import annotations

import uuid

import pytest

from graphpost.core import users
from graphpost.core.http import Response
from graphpost.errors import NotFound, ServerError, Unauthorized
from tests.support.operations import drive, graph_error, response

ME = {
    "id": "u1",
    "displayName": "Ada Lovelace",
    "userPrincipalName": "ada@contoso.com",
    "mail": "ada@contoso.com",
}
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"


def test_get_me() -> None:
    sent, user = drive(users.get_me(), response(200, ME))
    (request,) = sent
    assert (request.method, request.url, dict(request.params)) == ("GET", "/me", {})
    assert request.authenticated and request.is_idempotent
    assert user.display_name == "Ada Lovelace" and user.user_principal_name == "ada@contoso.com"


def test_every_request_carries_a_fresh_client_request_id() -> None:
    first = next(users.get_me())
    second = next(users.get_me())
    assert uuid.UUID(first.headers["client-request-id"]).version == 4
    assert first.headers["client-request-id"] != second.headers["client-request-id"]
    assert first.headers["return-client-request-id"] == "true"


def test_get_me_with_select() -> None:
    request = next(users.get_me(select=["displayName", "mail"]))
    assert request.params == {"$select": "displayName,mail"}


@pytest.mark.parametrize(
    ("user", "path"),
    [
        ("87d349ed-44d7-43e1-9a83-5f2406dee5bd", "/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd"),
        ("ada@contoso.com", "/users/ada@contoso.com"),
        ("guest_outlook.com#EXT#@contoso.com", "/users/guest_outlook.com%23EXT%23@contoso.com"),
        ("$ada@contoso.com", "/users('$ada@contoso.com')"),
        ("a/b", "/users/a%2Fb"),
    ],
)
def test_get_user_addresses_ids_and_upns(user: str, path: str) -> None:
    assert next(users.get_user(user)).url == path


def test_get_user_not_found_raises() -> None:
    with pytest.raises(NotFound) as caught:
        drive(
            users.get_user("nobody@contoso.com"), graph_error(404, "Request_ResourceNotFound", "no")
        )
    assert caught.value.request_id == "req-1"


def test_get_photo_of_me_is_one_request_to_photo_value() -> None:
    sent, photo = drive(users.get_photo(), Response(200, {"content-type": "image/jpeg"}, JPEG))
    assert [(r.method, r.url) for r in sent] == [("GET", "/me/photo/$value")]
    assert photo is not None
    assert (photo.content, photo.content_type, photo.filename) == (JPEG, "image/jpeg", "photo.jpeg")


def test_get_photo_of_a_user_uses_photo_value_not_the_samples_path() -> None:
    sent, photo = drive(users.get_photo("u1"), Response(200, {"content-type": "image/pjpeg"}, JPEG))
    assert sent[0].url == "/users/u1/photo/$value"
    assert photo is not None and photo.content_type == "image/jpeg"  # pjpeg mapped


def test_get_photo_of_a_given_size() -> None:
    assert next(users.get_photo(size="48x48")).url == "/me/photos/48x48/$value"
    with pytest.raises(ValueError):
        next(users.get_photo(size="47x47"))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "ImageNotFound",
            "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
        ),
        ("ErrorItemNotFound", "The photo wasn't found."),
        ("ResourceNotFound", "Resource could not be discovered."),
    ],
)
def test_no_photo_is_none(code: str, message: str) -> None:
    _, photo = drive(users.get_photo("u1"), graph_error(404, code, message))
    assert photo is None


def test_photo_of_an_unknown_user_raises() -> None:
    with pytest.raises(NotFound):
        drive(
            users.get_photo("ghost"),
            graph_error(404, "Request_ResourceNotFound", "Resource 'ghost' does not exist"),
        )


@pytest.mark.parametrize(("status", "cls"), [(401, Unauthorized), (500, ServerError)])
def test_photo_errors_other_than_404_raise(status: int, cls: type[Exception]) -> None:
    with pytest.raises(cls):
        drive(users.get_photo(), graph_error(status, "Whatever", "failed"))
