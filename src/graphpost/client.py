"""The synchronous Graph client: carries the operations' requests over httpx, with retries.

All of Graph's protocol lives in `graphpost.core`; `Graph` only adds the base URL,
the bearer token and User-Agent, sends, retries per the `RetryPolicy`, and hands the
responses back to the operation.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from graphpost import __version__
from graphpost.config import DEFAULT_GRAPH_URL, Settings
from graphpost.core import drive, mail, users
from graphpost.core.http import (
    Operation,
    Request,
    Response,
    lower_headers,
    run_operation,
    with_query,
)
from graphpost.core.retry import RetryPolicy
from graphpost.errors import TransportError
from graphpost.models import Attachment, DriveItem, Message, Photo, SendReceipt, SharingLink, User
from graphpost.tls import trust

__all__ = ["USER_AGENT", "Graph"]

T = TypeVar("T")
USER_AGENT = f"graphpost/{__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# Failures before the request left: safe to send again whatever the method
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _tls_verification(verify: bool | str | Path) -> bool | ssl.SSLContext:
    """A CA file becomes an SSL context trusting it besides the system store (httpx deprecates
    verify=<path>)."""
    return verify if isinstance(verify, bool) else trust(verify)


class Graph:
    """A Microsoft Graph client for one identity (a user's or the app's token).

    `token` is an access token, or a callable returning one (called for every request,
    so an MSAL-backed provider can refresh).  `verify` is True (system CAs), False, or
    a CA bundle path, e.g. a sandbox's ``ca.pem``.  Use it as a context manager, or
    call `close()`, to release its connections.
    """

    def __init__(
        self,
        token: str | Callable[[], str],
        *,
        graph_url: str = DEFAULT_GRAPH_URL,
        verify: bool | str | Path = True,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._token = token
        self.graph_url = graph_url.rstrip("/")
        parts = urlsplit(self.graph_url)
        self._origin = (parts.scheme, parts.netloc.lower())
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.user_agent = user_agent
        self._owns_client = http_client is None
        self._http = http_client or httpx.Client(
            verify=_tls_verification(verify), timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, token_provider: str | Callable[[], str], **options: Any
    ) -> Graph:
        """A client for the Graph URL and CA file of `settings`."""
        return cls(
            token_provider, graph_url=settings.graph_url, verify=settings.ca_file or True, **options
        )

    def __repr__(self) -> str:
        return f"Graph(graph_url={self.graph_url!r})"

    def __enter__(self) -> Graph:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client:
            self._http.close()

    # -- driving operations -------------------------------------------------------------

    def run(self, operation: Operation[T]) -> T:
        """Drive any `graphpost.core` operation to its result."""
        return run_operation(operation, self.send)

    def send(self, request: Request) -> Response:
        """Send `request`, sending the same request again while the retry policy says so."""
        attempt = 0
        while True:
            attempt += 1
            outcome: Response | TransportError
            try:
                outcome = self._send_once(request)
            except httpx.TransportError as failure:
                outcome = TransportError(
                    str(failure) or type(failure).__name__,
                    method=request.method,
                    url=self._url(request),
                    request_sent=not isinstance(failure, _NOT_SENT),
                )
                outcome.__cause__ = failure
            delay = self.retry.delay(request, outcome, attempt)
            if delay is None:
                if isinstance(outcome, TransportError):
                    raise outcome
                return outcome
            self._sleep(delay)

    def _url(self, request: Request) -> str:
        url = request.url
        if not url.startswith(("https://", "http://")):
            url = self.graph_url + ("" if url.startswith("/") else "/") + url
        return with_query(url, request.params)

    def _send_once(self, request: Request) -> Response:
        url = self._url(request)
        headers = {"User-Agent": self.user_agent, **request.headers}
        if request.authenticated:
            parts = urlsplit(url)
            if (parts.scheme, parts.netloc.lower()) != self._origin:
                # a next link or upload URL pointing elsewhere must never receive the token
                raise ValueError(
                    f"refusing to send the access token to {parts.scheme}://{parts.netloc}"
                )
            headers["Authorization"] = f"Bearer {self._access_token()}"
        if request.json is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        reply = self._http.request(
            request.method, url, headers=headers, content=request.body_bytes()
        )
        return Response(reply.status_code, lower_headers(reply.headers.items()), reply.content)

    def _access_token(self) -> str:
        return self._token if isinstance(self._token, str) else self._token()

    # -- the sample's calls -----------------------------------------------------------

    def me(self, select: Sequence[str] | None = None) -> User:
        return self.run(users.get_me(select))

    def user(self, id_or_upn: str, select: Sequence[str] | None = None) -> User:
        return self.run(users.get_user(id_or_upn, select))

    def photo(self, user: str = "me", size: str | None = None) -> Photo | None:
        """The user's profile photo, or None when they have none."""
        return self.run(users.get_photo(user, size))

    def upload(
        self,
        remote_path: str,
        content: bytes,
        content_type: str | None = None,
        user: str = "me",
        conflict_behavior: str = "replace",
    ) -> DriveItem:
        """Put a file of up to 250 MB at `remote_path` in the user's OneDrive."""
        return self.run(
            drive.upload_small(remote_path, content, content_type, user, conflict_behavior)
        )

    def create_link(
        self,
        item_id: str,
        type: str = "view",  # Graph's own name for it
        scope: str | None = None,
        user: str = "me",
    ) -> SharingLink:
        return self.run(drive.create_link(item_id, type, scope, user))

    def send_mail(
        self,
        subject: str,
        body: str,
        to: mail.Recipients,
        cc: mail.Recipients = (),
        bcc: mail.Recipients = (),
        *,
        reply_to: mail.Recipients = (),
        html: bool = True,
        importance: str | None = None,
        attachments: Sequence[mail.FileAttachment] = (),
        save_to_sent_items: bool = True,
        user: str = "me",
    ) -> SendReceipt:
        """Build and send one mail; Graph's 202 gives a `SendReceipt`, anything else raises."""
        message = mail.build_message(
            subject,
            body,
            to,
            cc,
            bcc,
            reply_to,
            html=html,
            importance=importance,
            attachments=attachments,
        )
        return self.run(mail.send_mail(message, save_to_sent_items, user))

    def messages(
        self,
        folder: str | None = "inbox",
        top: int | None = None,
        limit: int | None = None,
        user: str = "me",
        select: Sequence[str] | None = None,
    ) -> Iterator[Message]:
        """Messages of a folder, newest first, fetched page by page (`top` per page) up to `limit`."""
        if limit is not None and limit <= 0:
            return
        page = self.run(mail.list_messages(folder, top, user, select))
        yielded = 0
        while True:
            for message in page.items:
                yield message
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            if not page.next_link:
                return
            page = self.run(mail.next_page(page.next_link))

    def message(
        self, message_id: str, user: str = "me", select: Sequence[str] | None = None
    ) -> Message:
        return self.run(mail.get_message(message_id, user, select))

    def attachments(self, message_id: str, user: str = "me") -> list[Attachment]:
        return self.run(mail.list_attachments(message_id, user))
