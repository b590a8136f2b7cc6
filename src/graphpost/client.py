"""The synchronous Graph client: carries the operations' requests over httpx, with retries.

All of Graph's protocol lives in `graphpost.core`; `Graph` only adds the base URL,
the bearer token and User-Agent, sends, retries per the `RetryPolicy`, and hands the
responses back to the operation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from graphpost.config import DEFAULT_GRAPH_URL, Settings
from graphpost.core import drive, mail, users
from graphpost.core.http import Operation, Request, Response, run_operation
from graphpost.core.retry import RetryPolicy
from graphpost.errors import TransportError
from graphpost.models import Attachment, DriveItem, Message, Photo, SendReceipt, SharingLink, User
from graphpost.transport import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    ClientBase,
    plain_response,
    tls_verification,
)

__all__ = ["USER_AGENT", "Graph"]

T = TypeVar("T")


class Graph(ClientBase):
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
        super().__init__(token, graph_url, retry, user_agent)
        self._sleep = sleep
        self._owns_client = http_client is None
        self._http = http_client or httpx.Client(
            verify=tls_verification(verify), timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, token_provider: str | Callable[[], str], **options: Any
    ) -> Graph:
        """A client for the Graph URL and CA file of `settings`."""
        return cls(
            token_provider, graph_url=settings.graph_url, verify=settings.ca_file or True, **options
        )

    @classmethod
    def from_env(cls, **options: Any) -> Graph:
        """An app-only client from the configuration (GRAPHPOST_* variables, .env, a sandbox):
        the daemon registration's client credentials through MSAL."""
        from graphpost.auth import AppTokenProvider

        settings = Settings.from_env(app="daemon")
        return cls.from_settings(settings, AppTokenProvider(settings), **options)

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
                outcome = self.failure(failure, request)
            delay = self.retry.delay(request, outcome, attempt)
            if delay is None:
                if isinstance(outcome, TransportError):
                    raise outcome
                return outcome
            self._sleep(delay)

    def _send_once(self, request: Request) -> Response:
        url = self.url_of(request)
        token = self._access_token() if request.authenticated else None
        headers = self.headers_for(request, url, token)
        reply = self._http.request(
            request.method, url, headers=headers, content=request.body_bytes()
        )
        return plain_response(reply)

    def _access_token(self) -> str:
        if isinstance(self._token, str):
            return self._token
        token = self._token()
        if not isinstance(token, str):
            raise TypeError(
                "Graph needs a token or a function returning one; use AsyncGraph for coroutines"
            )
        return token

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
