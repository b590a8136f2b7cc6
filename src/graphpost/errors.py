"""Exceptions graphpost raises: Graph's refusals, sign-in failures and local limits, each one line.

Every `str()` is a single readable line that names the error code and the request id
(what Microsoft support asks for), and no exception ever carries a token, secret,
password or authorization code: they keep only the fields listed on each class.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

__all__ = [
    "AuthError",
    "AuthFailure",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "GraphError",
    "InvalidRecipients",
    "NotFound",
    "ServerError",
    "SizeLimitExceeded",
    "Throttled",
    "TooLarge",
    "TransportError",
    "Unauthorized",
    "redact",
]

# JWTs (access and ID tokens) start with a base64url '{"' header: eyJ...
_JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[\w.~+/=-]{8,}")
# key=value pairs of OAuth secrets as they appear in form bodies and query strings
_SECRET_PARAM = re.compile(
    r"(?i)\b(access_token|refresh_token|id_token|client_secret|password|code|code_verifier"
    r"|client_assertion|device_code)=([^&\s]+)"
)
REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with tokens, bearer values, OAuth secret parameters and the given `secrets` removed."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


def one_line(text: str) -> str:
    """Collapse whitespace runs (Graph messages sometimes carry \\r\\n) into single spaces."""
    return " ".join(text.split())


class GraphError(Exception):
    """Microsoft Graph answered with an error status.

    `code` is Graph's error code (casing depends on the workload: ``ErrorItemNotFound``,
    ``itemNotFound``, ``Request_ResourceNotFound``...); branch on it, never on `message`.
    `inner_code` is the most specific nested ``innerError.code`` when there is one.
    """

    status: int
    code: str
    message: str
    request_id: str | None
    client_request_id: str | None
    date: str | None
    inner_code: str | None
    retry_after: float | None

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        client_request_id: str | None = None,
        date: str | None = None,
        inner_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = one_line(redact(message))
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.date = date
        self.inner_code = inner_code
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.status} {self.code}" if self.code else str(self.status)
        text = f"{head}: {self.message}" if self.message else head
        if self.request_id:
            text += f" (request-id: {self.request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only fields: the default pickling (cls(*args)) could not rebuild it
        return (_rebuild, (type(self), dict(self.__dict__)))

    @staticmethod
    def class_for_status(status: int) -> type[GraphError]:
        """The subclass that stands for `status` (GraphError itself when none does)."""
        if status >= 500:
            return ServerError
        return _BY_STATUS.get(status, GraphError)


def _rebuild(cls: type[Exception], state: dict[str, Any]) -> Exception:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    error.args = (str(error),)
    return error


class BadRequest(GraphError):
    """400: Graph could not accept the request as written (bad recipients, bad query...)."""


class Unauthorized(GraphError):
    """401: the access token is missing, expired or not valid for Graph."""


class Forbidden(GraphError):
    """403: the token lacks a permission (scope or app role) for this call."""


class NotFound(GraphError):
    """404: no such user, message, item or photo."""


class Conflict(GraphError):
    """409: e.g. a OneDrive name already exists, or the parent folder does not."""


class TooLarge(GraphError):
    """413: Graph refused the request body as too large."""


class Throttled(GraphError):
    """429: too many requests; `retry_after` says how many seconds Graph asked us to wait."""


class ServerError(GraphError):
    """5xx: Graph or the service behind it failed or is unavailable."""


_BY_STATUS: dict[int, type[GraphError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    429: Throttled,
}


class TransportError(Exception):
    """Graph could not be reached, or the connection broke before an answer came.

    `request_sent` is False only when the failure happened before any byte of the
    request left (connecting, TLS): then even a POST can safely be sent again.
    """

    def __init__(self, message: str, *, method: str, url: str, request_sent: bool) -> None:
        self.method = method
        self.url = url.split("?", 1)[0]  # query strings can hold pre-authenticated keys
        self.request_sent = request_sent
        self.reason = one_line(redact(message))
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"cannot reach Graph: {self.method} {self.url}: {self.reason}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), dict(self.__dict__)))


class SizeLimitExceeded(ValueError):
    """Refused locally, before sending: Graph would reject a request this large."""

    def __init__(self, what: str, size: int, limit: int, hint: str = "") -> None:
        self.what = what
        self.size = size
        self.limit = limit
        self.hint = hint
        shown, allowed = _human(size), _human(limit)
        if shown == allowed:  # rounding would hide the difference
            shown, allowed = f"{size:,} bytes", f"{limit:,}-byte"
        text = f"{what} is {shown}, over the {allowed} limit"
        super().__init__(f"{text}; {hint}" if hint else text)


def _human(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} bytes"
    return f"{size / (1024 * 1024):.2f} MiB"


class InvalidRecipients(ValueError):
    """Recipients that are not email addresses; `invalid` lists them as typed."""

    def __init__(self, message: str, invalid: Sequence[str] = ()) -> None:
        self.invalid = tuple(invalid)
        super().__init__(message)


class AuthFailure(StrEnum):
    """What kind of sign-in failure an `AuthError` is, for choosing what to tell the user."""

    ACCESS_DENIED = "access_denied"  # the user (or admin) declined consent
    STATE_MISMATCH = (
        "state_mismatch"  # the answer does not belong to this sign-in (CSRF, other tab)
    )
    CODE_EXPIRED = "code_expired"  # the authorization code expired or was already used
    INVALID_RESPONSE = "invalid_response"  # e.g. the ID token's nonce is not ours
    INVALID_CLIENT = "invalid_client"  # wrong, expired or missing client secret
    INTERACTION_REQUIRED = "interaction_required"  # consent, MFA or a fresh sign-in is needed
    OTHER = "other"


# AADSTS codes: 70008 expired grant, 70000 expired/invalid code, 54005 code already redeemed
_CODE_EXPIRED = {70008, 70000, 54005}
_INTERACTION = {"interaction_required", "consent_required", "login_required"}
# the only fields of an MSAL/Entra result an AuthError keeps (results can hold tokens)
_SAFE_FIELDS = (
    "error",
    "error_description",
    "error_codes",
    "suberror",
    "correlation_id",
    "trace_id",
    "timestamp",
    "error_uri",
)


class AuthError(Exception):
    """Signing in or getting a token failed (an Entra ID / MSAL error result).

    Keeps `error` (``invalid_grant``...), `aadsts` (e.g. 7000215), the first line of
    ``error_description`` (without Entra's trace lines), `correlation_id` and `kind`.
    """

    def __init__(
        self,
        error: str,
        description: str = "",
        *,
        aadsts: int | None = None,
        correlation_id: str | None = None,
        trace_id: str | None = None,
        suberror: str | None = None,
        kind: AuthFailure | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        first = description.strip().splitlines()[0] if description.strip() else ""
        self.error = error
        self.description = one_line(redact(first, secrets))
        self.aadsts = aadsts if aadsts is not None else _aadsts_in(first)
        self.correlation_id = correlation_id
        self.trace_id = trace_id
        self.suberror = suberror
        self.kind = kind or _kind_of(error, self.aadsts, suberror)
        super().__init__(str(self))

    @classmethod
    def from_result(
        cls,
        result: Mapping[str, Any],
        *,
        kind: AuthFailure | None = None,
        secrets: Iterable[str | None] = (),
    ) -> AuthError:
        """From an MSAL result or an Entra error JSON / redirect query (only safe fields are read)."""
        safe = {name: result.get(name) for name in _SAFE_FIELDS}
        codes = safe["error_codes"]
        aadsts = (
            codes[0] if isinstance(codes, list) and codes and isinstance(codes[0], int) else None
        )
        return cls(
            str(safe["error"] or "unknown_error"),
            str(safe["error_description"] or ""),
            aadsts=aadsts,
            correlation_id=_str_or_none(safe["correlation_id"]),
            trace_id=_str_or_none(safe["trace_id"]),
            suberror=_str_or_none(safe["suberror"]),
            kind=kind,
            secrets=secrets,
        )

    def __str__(self) -> str:
        text = self.error
        if self.description:
            text += f": {self.description}"
        if self.correlation_id:
            text += f" (correlation-id: {self.correlation_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"AuthError(error={self.error!r}, aadsts={self.aadsts!r}, kind={self.kind.value!r}, "
            f"description={self.description!r}, correlation_id={self.correlation_id!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), dict(self.__dict__)))


def _str_or_none(value: Any) -> str | None:
    return str(value) if value else None


def _aadsts_in(text: str) -> int | None:
    found = re.search(r"AADSTS(\d+)", text)
    return int(found.group(1)) if found else None


def _kind_of(error: str, aadsts: int | None, suberror: str | None) -> AuthFailure:
    if error == "access_denied":
        return AuthFailure.ACCESS_DENIED
    if error == "invalid_grant" and aadsts in _CODE_EXPIRED:
        return AuthFailure.CODE_EXPIRED
    if error == "invalid_client":
        return AuthFailure.INVALID_CLIENT
    if error in _INTERACTION or suberror in _INTERACTION or aadsts in (65001, 50076, 50079):
        return AuthFailure.INTERACTION_REQUIRED
    return AuthFailure.OTHER
