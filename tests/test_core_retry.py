"""The retry policy's decisions: 429 always (honouring Retry-After), 503/504 and lost connections only when idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graphpost.core import drive, mail
from graphpost.core.http import Request, Response
from graphpost.core.retry import NO_RETRY, RetryPolicy
from graphpost.errors import TransportError

NOW = datetime(2025, 2, 13, 10, 17, 6, tzinfo=UTC)
GET = Request("GET", "/me")
POLICY = RetryPolicy(random=lambda: 0.5)


def send_mail_request() -> Request:
    message = mail.build_message("Hi", "Hello", "ada@example.com")
    return next(mail.send_mail(message))


def lost(request_sent: bool) -> TransportError:
    return TransportError(
        "boom", method="POST", url="https://g/v1.0/me/sendMail", request_sent=request_sent
    )


def test_send_mail_is_a_non_idempotent_post() -> None:
    request = send_mail_request()
    assert request.method == "POST" and not request.is_idempotent


@pytest.mark.parametrize("status", [503, 504])
def test_post_never_retried_on_503_or_504(status: int) -> None:
    response = Response(status, {"retry-after": "1"})
    assert POLICY.delay(send_mail_request(), response, attempt=1) is None


@pytest.mark.parametrize("status", [503, 504])
def test_get_retried_on_503_and_504(status: int) -> None:
    assert POLICY.delay(GET, Response(status, {"retry-after": "3"}), attempt=1) == 3.0
    assert POLICY.delay(GET, Response(status, {}), attempt=1) == pytest.approx(0.375)


def test_429_retried_even_for_send_mail_with_fractional_retry_after() -> None:
    assert POLICY.delay(
        send_mail_request(), Response(429, {"retry-after": "2.128"}), attempt=1
    ) == pytest.approx(2.128)


def test_429_with_http_date_retry_after() -> None:
    response = Response(429, {"retry-after": "Thu, 13 Feb 2025 10:17:36 GMT"})
    assert POLICY.delay(GET, response, attempt=1, now=NOW) == pytest.approx(30.0)


def test_retry_after_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=10.0)
    assert policy.delay(GET, Response(429, {"retry-after": "3600"}), attempt=1) == 10.0


def test_429_without_retry_after_backs_off_exponentially_with_jitter() -> None:
    low = RetryPolicy(random=lambda: 0.0, backoff_base=1.0, max_backoff=100.0, max_attempts=10)
    high = RetryPolicy(random=lambda: 1.0, backoff_base=1.0, max_backoff=100.0, max_attempts=10)
    throttled = Response(429, {})
    assert [low.delay(GET, throttled, attempt=n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [high.delay(GET, throttled, attempt=n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(random=lambda: 1.0, backoff_base=1.0, max_backoff=5.0, max_attempts=20)
    assert policy.delay(GET, Response(429, {}), attempt=12) == 5.0


def test_max_attempts_counts_the_first_try() -> None:
    policy = RetryPolicy(max_attempts=3)
    throttled = Response(429, {"retry-after": "1"})
    assert policy.delay(GET, throttled, attempt=2) == 1.0
    assert policy.delay(GET, throttled, attempt=3) is None
    assert NO_RETRY.delay(GET, throttled, attempt=1) is None
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize("status", [200, 202, 400, 401, 403, 404, 409, 413, 500, 501])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert POLICY.delay(GET, Response(status, {"retry-after": "1"}), attempt=1) is None


def test_lost_connection_retried_only_for_idempotent_requests() -> None:
    assert POLICY.delay(send_mail_request(), lost(request_sent=True), attempt=1) is None
    assert POLICY.delay(GET, lost(request_sent=True), attempt=1) == pytest.approx(0.375)
    assert POLICY.delay(GET, ConnectionResetError(), attempt=1) is not None
    assert POLICY.delay(send_mail_request(), TimeoutError(), attempt=1) is None


def test_connection_that_never_opened_is_retried_even_for_post() -> None:
    assert POLICY.delay(send_mail_request(), lost(request_sent=False), attempt=1) == pytest.approx(
        0.375
    )


def test_other_exceptions_are_not_retried() -> None:
    assert POLICY.delay(GET, ValueError("bug"), attempt=1) is None


def test_upload_with_rename_is_not_idempotent_but_replace_is() -> None:
    rename = next(drive.upload_small("a.txt", b"x", conflict_behavior="rename"))
    replace = next(drive.upload_small("a.txt", b"x"))
    assert POLICY.delay(rename, Response(503, {}), attempt=1) is None
    assert POLICY.delay(replace, Response(503, {}), attempt=1) is not None


def test_create_link_may_be_retried() -> None:
    request = next(drive.create_link("item-1"))
    assert request.method == "POST" and request.is_idempotent
