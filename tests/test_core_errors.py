"""Reading Graph's error responses (every workload's casing) and Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graphpost.core.errors import error_from_response, expect_ok, retry_after
from graphpost.core.http import Response
from graphpost.errors import BadRequest, Forbidden, GraphError, NotFound, ServerError, Throttled
from tests.support.operations import graph_error, response

NOW = datetime(2025, 2, 13, 10, 17, 6, tzinfo=UTC)


def test_outlook_error_with_inner_error() -> None:
    error = error_from_response(
        graph_error(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store., Item not found.",
            request_id="93b6f17e-c05d-4f45-ad2a-6665c708d8a0",
        )
    )
    assert type(error) is NotFound
    assert error.code == "ErrorItemNotFound"
    assert error.message == "The specified object was not found in the store., Item not found."
    assert error.request_id == "93b6f17e-c05d-4f45-ad2a-6665c708d8a0"
    assert error.client_request_id == "client-1"
    assert error.date == "2025-02-13T10:17:06"


def test_directory_error() -> None:
    error = error_from_response(
        graph_error(
            404,
            "Request_ResourceNotFound",
            "Resource '8c14a998' does not exist or one of its queried reference-property objects are not present.",
        )
    )
    assert isinstance(error, NotFound)
    assert error.code == "Request_ResourceNotFound"


def test_onedrive_error_with_lowercase_innererror_and_nested_codes() -> None:
    body = {
        "error": {
            "code": "invalidRange",
            "message": "Uploaded fragment overlaps with existing data.",
            "innererror": {
                "code": "fragmentOverlap",
                "request-id": "od-request",
                "date": "2025-01-01T00:00:00",
                "innererror": {"code": "uploadSessionFragmentOverlap"},
            },
        }
    }
    error = error_from_response(response(416, body))
    assert type(error) is GraphError
    assert (error.code, error.request_id) == ("invalidRange", "od-request")
    assert error.inner_code == "uploadSessionFragmentOverlap"


def test_onedrive_access_denied_with_localized_message() -> None:
    body = {
        "error": {
            "code": "accessDenied",
            "message": "Access Denied",
            "localizedMessage": "Zugriff verweigert",
        }
    }
    error = error_from_response(
        response(403, body, {"request-id": "hdr-id", "client-request-id": "c"})
    )
    assert isinstance(error, Forbidden)
    assert (error.code, error.message) == ("accessDenied", "Access Denied")
    assert error.request_id == "hdr-id"  # no innerError: the header's id
    assert error.client_request_id == "c"


def test_empty_code_falls_back_to_the_reason_phrase() -> None:
    body = {
        "error": {
            "code": "",
            "message": "You do not have the required permissions to access this item.",
        }
    }
    error = error_from_response(response(403, body))
    assert error.code == "Forbidden"
    assert error.message == "You do not have the required permissions to access this item."


def test_throttled_sample_from_the_docs() -> None:
    body = {
        "error": {
            "code": "TooManyRequests",
            "innerError": {
                "code": "429",
                "date": "2020-08-18T12:51:51",
                "message": "Please retry after",
                "request-id": "94fb3b52-452a-4535-a601-69e0a90e3aa2",
                "status": "429",
            },
            "message": "Please retry again later.",
        }
    }
    error = error_from_response(response(429, body, {"Retry-After": "2.128"}))
    assert isinstance(error, Throttled)
    assert error.retry_after == pytest.approx(2.128)
    assert error.request_id == "94fb3b52-452a-4535-a601-69e0a90e3aa2"
    assert error.inner_code is None  # "429" is a status, not a code
    assert str(error) == (
        "429 TooManyRequests: Please retry again later. (request-id: 94fb3b52-452a-4535-a601-69e0a90e3aa2)"
    )


def test_outlook_concurrency_throttle_without_inner_error() -> None:
    body = {
        "error": {
            "code": "ApplicationThrottled",
            "message": "Application is over its MailboxConcurrency limit.",
        }
    }
    error = error_from_response(response(429, body, {"Retry-After": "1", "request-id": "r"}))
    assert isinstance(error, Throttled)
    assert (error.retry_after, error.request_id) == (1.0, "r")


def test_html_body_from_a_gateway_uses_reason_and_headers() -> None:
    error = error_from_response(
        Response(
            502,
            {"content-type": "text/html", "request-id": "gw-req", "client-request-id": "gw-client"},
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
    )
    assert isinstance(error, ServerError)
    assert (error.code, error.message) == ("BadGateway", "Bad Gateway")
    assert (error.request_id, error.client_request_id) == ("gw-req", "gw-client")
    assert str(error) == "502 BadGateway: Bad Gateway (request-id: gw-req)"


def test_short_plain_text_body_becomes_the_message() -> None:
    error = error_from_response(
        Response(
            413, {"content-type": "text/plain"}, b"The maximum request length supported is 4MB."
        )
    )
    assert error.code == "RequestEntityTooLarge"
    assert error.message == "The maximum request length supported is 4MB."


def test_empty_body_and_unknown_status() -> None:
    error = error_from_response(Response(599, {}, b""))
    assert isinstance(error, ServerError)
    assert (error.code, error.message) == ("HTTP599", "HTTP 599")


def test_entra_style_error_body() -> None:
    body = {
        "error": "invalid_request",
        "error_description": "AADSTS900144: missing 'scope'.\r\nTrace ID: x",
    }
    error = error_from_response(response(400, body))
    assert isinstance(error, BadRequest)
    assert (error.code, error.message) == ("invalid_request", "AADSTS900144: missing 'scope'.")


def test_expect_ok() -> None:
    accepted = Response(202, {})
    assert expect_ok(accepted) is accepted
    assert expect_ok(Response(204, {})).status == 204
    with pytest.raises(BadRequest):
        expect_ok(graph_error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid."))
    assert expect_ok(Response(404, {}), 200, 404).status == 404
    with pytest.raises(GraphError):
        expect_ok(Response(201, {}), 202)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        ("2.128", 2.128),
        (" 0.5 ", 0.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("Thu, 13 Feb 2025 10:17:16 GMT", 10.0),
        ("Thu, 13 Feb 2025 10:17:06 GMT", 0.0),
        ("Thu, 13 Feb 2025 10:00:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        ("", None),
    ],
)
def test_retry_after(value: str, seconds: float | None) -> None:
    got = retry_after(Response(429, {"retry-after": value}), now=NOW)
    assert got == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after_absent() -> None:
    assert retry_after(Response(429, {})) is None
