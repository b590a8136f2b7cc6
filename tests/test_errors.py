"""graphpost.errors: one-line messages, the status-to-class map, and no secret in any str or repr."""

from __future__ import annotations

import pickle

import pytest

from graphpost.config import Settings
from graphpost.core.errors import error_from_response
from graphpost.core.mail import FileAttachment
from graphpost.errors import (
    AuthError,
    AuthFailure,
    BadRequest,
    Conflict,
    Forbidden,
    GraphError,
    InvalidRecipients,
    NotFound,
    ServerError,
    SizeLimitExceeded,
    Throttled,
    TooLarge,
    TransportError,
    Unauthorized,
    redact,
)
from graphpost.models import DriveItem
from tests.support.operations import response

JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiIwMDAwMDAwMy0wMDAwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
SECRET = "Zx8Q~client.secret-value_12345"
REFRESH = "0.AUEA-refresh-token-value-abcdefghijklmnop"
PASSWORD = "correct horse battery staple"
CODE = "AwABAAAAvPM1KaPlrEqdFSBzjqfTGBCmLdgfSTLEMPGYuNHSUYBrq"

ENTRA_INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": (
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request "
        "is the client secret value, not the client secret ID, for a secret added to app 'abc'.\r\n"
        "Trace ID: 0000aaaa-11bb-cccc-dd33-eeeeee333333\r\n"
        "Correlation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\n"
        "Timestamp: 2016-01-09 02:02:12Z"
    ),
    "error_codes": [7000215],
    "timestamp": "2016-01-09 02:02:12Z",
    "trace_id": "0000aaaa-11bb-cccc-dd33-eeeeee333333",
    "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
    "error_uri": "https://login.microsoftonline.com/error?code=7000215",
}


def test_graph_error_is_one_line_with_code_message_and_request_id() -> None:
    error = NotFound(
        404,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
        request_id="1234-5678",
    )
    assert str(error) == (
        "404 ErrorItemNotFound: The specified object was not found in the store. "
        "(request-id: 1234-5678)"
    )
    assert error.args == (str(error),)


def test_graph_error_message_with_line_breaks_stays_one_line() -> None:
    error = GraphError(400, "BadRequest", "first line\r\nsecond line\n")
    assert str(error) == "400 BadRequest: first line second line"
    assert "\n" not in str(error) and "\n" not in repr(error)


def test_graph_error_without_code_or_request_id() -> None:
    assert str(GraphError(403, "", "You do not have the required permissions.")) == (
        "403: You do not have the required permissions."
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, TooLarge),
        (429, Throttled),
        (500, ServerError),
        (503, ServerError),
        (504, ServerError),
        (405, GraphError),
        (412, GraphError),
    ],
)
def test_class_for_status(status: int, cls: type[GraphError]) -> None:
    assert GraphError.class_for_status(status) is cls
    assert issubclass(cls, GraphError)


def test_graph_error_survives_pickling() -> None:
    error = Throttled(
        429, "TooManyRequests", "Please retry again later.", request_id="r", retry_after=2.5
    )
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is Throttled
    assert (copy.status, copy.code, copy.request_id, copy.retry_after) == (
        429,
        "TooManyRequests",
        "r",
        2.5,
    )
    assert str(copy) == str(error)


def test_auth_error_from_entra_result() -> None:
    error = AuthError.from_result(ENTRA_INVALID_CLIENT)
    assert error.error == "invalid_client"
    assert error.aadsts == 7000215
    assert error.correlation_id == "aaaa0000-bb11-2222-33cc-444444dddddd"
    assert error.kind is AuthFailure.INVALID_CLIENT
    assert error.description.startswith("AADSTS7000215: Invalid client secret provided.")
    assert "Trace ID" not in str(error)
    assert str(error) == (
        "invalid_client: "
        + error.description
        + " (correlation-id: aaaa0000-bb11-2222-33cc-444444dddddd)"
    )
    assert "\n" not in str(error) and "\r" not in str(error)


def test_auth_error_finds_aadsts_in_the_description_when_no_error_codes() -> None:
    error = AuthError.from_result(
        {
            "error": "invalid_grant",
            "error_description": "AADSTS54005: OAuth2 Authorization code was already redeemed.",
        }
    )
    assert error.aadsts == 54005
    assert error.kind is AuthFailure.CODE_EXPIRED


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        (
            {"error": "access_denied", "error_description": "the user canceled"},
            AuthFailure.ACCESS_DENIED,
        ),
        ({"error": "invalid_grant", "error_codes": [70008]}, AuthFailure.CODE_EXPIRED),
        ({"error": "invalid_grant", "error_codes": [70000]}, AuthFailure.CODE_EXPIRED),
        ({"error": "invalid_grant", "error_codes": [54005]}, AuthFailure.CODE_EXPIRED),
        ({"error": "invalid_grant", "error_codes": [50126]}, AuthFailure.OTHER),
        (
            {"error": "invalid_grant", "suberror": "consent_required"},
            AuthFailure.INTERACTION_REQUIRED,
        ),
        ({"error": "interaction_required"}, AuthFailure.INTERACTION_REQUIRED),
    ],
)
def test_auth_error_kinds(result: dict[str, object], kind: AuthFailure) -> None:
    assert AuthError.from_result(result).kind is kind


def test_no_secret_in_any_str_or_repr() -> None:
    leaky_result = {
        **ENTRA_INVALID_CLIENT,
        "error_description": f"AADSTS7000215: bad secret {SECRET} with token {JWT}",
        "access_token": JWT,
        "refresh_token": REFRESH,
        "id_token": JWT,
        "client_secret": SECRET,
        "password": PASSWORD,
        "code": CODE,
    }
    auth = AuthError.from_result(leaky_result, secrets=[SECRET])
    graph = error_from_response(
        response(
            401,
            {
                "error": {
                    "code": "InvalidAuthenticationToken",
                    "message": f"Token Bearer {JWT} rejected; refresh_token={REFRESH}&code={CODE}",
                }
            },
        )
    )
    transport = TransportError(
        f"connection reset while sending Authorization: Bearer {JWT}",
        method="PUT",
        url=f"https://upload.example/up/123?tempauth={SECRET}",
        request_sent=True,
    )
    settings = Settings(
        client_id="cid", client_secret=SECRET, redis_url=f"redis://:{PASSWORD}@cache:6379/0"
    )
    attachment = FileAttachment("secret.txt", SECRET.encode())
    item = DriveItem.from_json(
        {"id": "1", "name": "x", "@microsoft.graph.downloadUrl": f"https://dl/x?tempauth={SECRET}"}
    )
    texts = [str(auth), repr(auth), str(graph), repr(graph), str(transport), repr(transport)]
    texts += [repr(settings), repr(attachment), repr(item), str(auth.args), str(graph.args)]
    for text in texts:
        for secret in (JWT, SECRET, REFRESH, PASSWORD, CODE):
            assert secret not in text, text


def test_redact_removes_tokens_and_oauth_parameters() -> None:
    text = redact(f"Bearer {JWT} password={PASSWORD.replace(' ', '+')}&client_secret=abc123xyz")
    assert JWT not in text and "abc123xyz" not in text and "horse" not in text
    assert redact("error_code=42") == "error_code=42"


def test_size_limit_exceeded_says_what_and_how_much() -> None:
    error = SizeLimitExceeded("attachment 'big.bin'", 5 * 1024 * 1024, 3 * 1024 * 1024, "use X")
    assert isinstance(error, ValueError) and not isinstance(error, GraphError)
    assert str(error) == "attachment 'big.bin' is 5.00 MiB, over the 3.00 MiB limit; use X"


def test_invalid_recipients_is_a_value_error_listing_the_bad_ones() -> None:
    error = InvalidRecipients("'bob' is not an email address", ["bob"])
    assert isinstance(error, ValueError)
    assert error.invalid == ("bob",)
    assert InvalidRecipients("Enter at least one recipient.").invalid == ()
