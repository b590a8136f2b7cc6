"""What the sync and async clients share around the wire: addressing, headers, the token's origin
rule, turning httpx's answers and failures into the core's plain `Response` and errors.

Nothing here sends: `Graph` and `AsyncGraph` each add only their own loop around it.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from graphpost import __version__
from graphpost.config import DEFAULT_GRAPH_URL, default_home
from graphpost.core import drive
from graphpost.core.errors import retry_after
from graphpost.core.http import Operation, Request, Response, lower_headers, with_query
from graphpost.core.retry import RetryPolicy
from graphpost.core.uploads import Progress
from graphpost.errors import TransportError
from graphpost.models import DriveItem
from graphpost.resume import FileSource, UploadJournal
from graphpost.tls import trust

USER_AGENT = f"graphpost/{__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TokenSource = str | Callable[[], str] | Callable[[], Awaitable[str]]
SESSION_THRESHOLD = 10 * 1024 * 1024  # above it, a local file goes through a resumable session

# the mailbox a Graph path is about: /me/..., /users/{id or UPN}/..., /users('$odd')/...
_MAILBOX = re.compile(r"/(me|users/[^/?]+|users\('[^']*'\))(?=[/?]|$)", re.IGNORECASE)
# Failures before the request left: safe to send again whatever the method
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def tls_verification(verify: bool | str | Path) -> bool | ssl.SSLContext:
    """A CA file becomes an SSL context trusting it besides the system store (httpx deprecates
    verify=<path>)."""
    return verify if isinstance(verify, bool) else trust(verify)


class ClientBase:
    """The state and rules both clients keep: base URL, token source, retry policy, User-Agent."""

    def __init__(
        self,
        token: TokenSource,
        graph_url: str = DEFAULT_GRAPH_URL,
        retry: RetryPolicy | None = None,
        user_agent: str = USER_AGENT,
        state_dir: str | Path | None = None,
    ) -> None:
        self._token = token
        self.graph_url = graph_url.rstrip("/")
        parts = urlsplit(self.graph_url)
        self._origin = (parts.scheme, parts.netloc.lower())
        self.retry = retry or RetryPolicy()
        self.user_agent = user_agent
        # time.monotonic() before which no request to a mailbox ("" for any) should go
        self._resume_at: dict[str, float] = {}
        self._state_dir = Path(state_dir) if state_dir else None
        self._journal: UploadJournal | None = None

    @property
    def journal(self) -> UploadJournal:
        """Where resumable uploads keep their sessions (made when first needed: finding the
        default folder costs an import most runs never need)."""
        if self._journal is None:
            self._journal = UploadJournal(self._state_dir or default_home() / "uploads")
        return self._journal

    def mailbox_of(self, request: Request) -> str:
        """Whose mailbox (or drive) `request` is for: ``me``, ``users/{id}``, or "" when its
        URL does not say (an upload URL, ``$batch``, another service)."""
        url = request.url
        if url.startswith(self.graph_url):
            url = url[len(self.graph_url) :]
        found = _MAILBOX.match(url)
        return found.group(1).lower() if found else ""

    def note(self, request: Request, outcome: Response | BaseException) -> None:
        """A 429 holds back every request of this client to the same mailbox for its
        Retry-After, not only its own retry: Outlook's limit is per app and mailbox, and
        hammering it only prolongs the throttling.  A 429 that names no mailbox holds back all."""
        if isinstance(outcome, Response) and outcome.status == 429:
            wait = min(retry_after(outcome) or 1.0, self.retry.max_retry_after)
            key = self.mailbox_of(request)
            self._resume_at[key] = max(self._resume_at.get(key, 0.0), time.monotonic() + wait)

    def refreshed_after_refusal(
        self, request: Request, outcome: Response | BaseException, attempt: int
    ) -> bool:
        """On a first 401, a token source that can (`invalidate()`) drops its token so the request
        goes again with a fresh one: a token can expire or be revoked between two requests."""
        invalidate = getattr(self._token, "invalidate", None)
        if (
            attempt == 1
            and isinstance(outcome, Response)
            and outcome.status == 401
            and callable(invalidate)
        ):
            invalidate()
            return True
        return False

    def given_up(self, request: Request, outcome: Response | TransportError) -> Response:
        """What the operation gets once retrying is over: the answer, or for a request that
        asked for it (`Request.report_failures`) a transport failure as a status-0 answer;
        any other failure is raised."""
        if isinstance(outcome, Response):
            return outcome
        if request.report_failures:
            return Response(0, {}, b"", failure=outcome)
        raise outcome

    def throttled_for(self, request: Request) -> float:
        """How long `request` must wait for a 429 seen on its mailbox (or on no mailbox)."""
        key = self.mailbox_of(request)
        until = max(self._resume_at.get(key, 0.0), self._resume_at.get("", 0.0))
        return max(0.0, until - time.monotonic())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(graph_url={self.graph_url!r})"

    def url_of(self, request: Request) -> str:
        url = request.url
        if not url.startswith(("https://", "http://")):
            url = self.graph_url + ("" if url.startswith("/") else "/") + url
        return with_query(url, request.params)

    def headers_for(self, request: Request, url: str, token: str | None) -> dict[str, str]:
        """The request's headers, with the bearer token only for Graph's own origin."""
        headers = {"User-Agent": self.user_agent, **request.headers}
        if request.authenticated:
            parts = urlsplit(url)
            if (parts.scheme, parts.netloc.lower()) != self._origin:
                # a next link or upload URL pointing elsewhere must never receive the token
                raise ValueError(
                    f"refusing to send the access token to {parts.scheme}://{parts.netloc}"
                )
            headers["Authorization"] = f"Bearer {token}"
        if request.json is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return headers

    def upload_operation(
        self,
        remote_path: str,
        source: bytes | str | Path,
        content_type: str | None,
        user: str,
        conflict_behavior: str,
        progress: Progress | None,
    ) -> tuple[Operation[DriveItem], Callable[[], None]]:
        """How to upload `source`, and what to do once it is up.

        Bytes and small files go in one request; a local file over `SESSION_THRESHOLD` goes
        through a session whose address is kept on disk (`UploadJournal`), so that the same
        upload run again after an interruption continues where it stopped."""
        if isinstance(source, bytes):
            return drive.upload_small(
                remote_path, source, content_type, user, conflict_behavior
            ), _nothing
        path = Path(source)
        size = path.stat().st_size
        if size <= SESSION_THRESHOLD:
            small = drive.upload_small(
                remote_path, path.read_bytes(), content_type, user, conflict_behavior
            )
            return small, _nothing
        destination = f"{self.graph_url}|{user}|{remote_path}|{conflict_behavior}"
        operation = drive.upload_resumable(
            remote_path,
            size,
            FileSource(path).read,
            self.journal.load(path, destination),
            lambda session: self.journal.save(path, destination, session),
            user,
            conflict_behavior,
            progress,
        )
        return operation, lambda: self.journal.forget(path, destination)

    def failure(self, failure: httpx.TransportError, request: Request) -> TransportError:
        error = TransportError(
            str(failure) or type(failure).__name__,
            method=request.method,
            url=self.url_of(request),
            request_sent=not isinstance(failure, _NOT_SENT),
        )
        error.__cause__ = failure
        return error


def plain_response(reply: httpx.Response) -> Response:
    return Response(reply.status_code, lower_headers(reply.headers.items()), reply.content)


def _nothing() -> None:
    return None
