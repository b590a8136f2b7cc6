"""The synchronous Graph client: carries the operations' requests over httpx, with retries.

All of Graph's protocol lives in `graphpost.core`; `Graph` only adds the base URL,
the bearer token and User-Agent, sends, retries per the `RetryPolicy`, and hands the
responses back to the operation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from graphpost.config import DEFAULT_GRAPH_URL, Settings
from graphpost.core import batch as batching
from graphpost.core import drive, extensions, mail, users
from graphpost.core.batch import BatchRequest, BatchResult
from graphpost.core.http import PAUSED, Operation, Request, Response, pause_seconds, run_operation
from graphpost.core.retry import RetryPolicy
from graphpost.core.uploads import Progress
from graphpost.errors import TransportError
from graphpost.models import (
    Attachment,
    DriveItem,
    Extension,
    MailFolder,
    Message,
    Page,
    Photo,
    SendReceipt,
    SharingLink,
    User,
)
from graphpost.transport import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    ClientBase,
    plain_response,
    tls_verification,
)

__all__ = ["USER_AGENT", "Graph"]

T = TypeVar("T")
OUTLOOK_CONCURRENCY = 4  # requests at once per app and mailbox
MAX_SEND_THREADS = 32
DOWNLOAD_TRIES = 5
CHUNK = 1024 * 1024


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
        state_dir: str | Path | None = None,
    ) -> None:
        super().__init__(token, graph_url, retry, user_agent, state_dir)
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
        if options.keys() & {"http_client", "transport", "verify"}:
            return cls.from_settings(settings, AppTokenProvider(settings), **options)
        # one connection pool and one TLS context for sign-in and Graph alike
        http = httpx.Client(
            verify=tls_verification(settings.ca_file or True),
            timeout=options.pop("timeout", DEFAULT_TIMEOUT),
        )
        graph = cls.from_settings(
            settings, AppTokenProvider(settings, http_client=http), http_client=http, **options
        )
        graph._owns_client = True
        return graph

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
        """Close the connections this client opened (not an `http_client` it was given)."""
        if self._owns_client:
            self._http.close()

    # -- driving operations -------------------------------------------------------------

    def run(self, operation: Operation[T]) -> T:
        """Drive any `graphpost.core` operation to its result."""
        return run_operation(operation, self.send)

    def send(self, request: Request) -> Response:
        """Send `request`, sending the same request again while the retry policy says so."""
        wait = pause_seconds(request)
        if wait is not None:
            self._sleep(wait)
            return PAUSED
        attempt = 0
        wait = self.throttled_for(request)  # another's 429 on its mailbox holds it too
        while True:
            attempt += 1
            if wait > 0:
                self._sleep(wait)
            outcome: Response | TransportError
            try:
                outcome = self._send_once(request)
            except httpx.TransportError as failure:
                outcome = self.failure(failure, request)
            self.note(request, outcome)
            if self.refreshed_after_refusal(request, outcome, attempt):
                wait = 0.0
                continue
            delay = self.retry.delay(request, outcome, attempt)
            if delay is None:
                return self.given_up(request, outcome)
            wait = max(delay, self.throttled_for(request))

    def _send_once(self, request: Request) -> Response:
        url = self.url_of(request)
        token = self._access_token() if request.authenticated else None
        headers = self.headers_for(request, url, token)
        body = request.stream() if request.stream is not None else request.body_bytes()
        reply = self._http.request(request.method, url, headers=headers, content=body)
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

    # -- users -------------------------------------------------------------------------

    def me(self, select: Sequence[str] | None = None) -> User:
        """The signed-in user's profile (`$select` narrows it)."""
        return self.run(users.get_me(select))

    def user(self, id_or_upn: str, select: Sequence[str] | None = None) -> User:
        """A user by id or userPrincipalName (app-only, or a delegated token allowed to read users)."""
        return self.run(users.get_user(id_or_upn, select))

    def photo(self, user: str = "me", size: str | None = None) -> Photo | None:
        """The user's profile photo, or None when they have none."""
        return self.run(users.get_photo(user, size))

    # -- mail ----------------------------------------------------------------------------

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
        exactly_once: bool = True,
        user: str = "me",
        progress: Progress | None = None,
        client_key: str | None = None,
    ) -> SendReceipt:
        """Send one mail with attachments of any size.

        By default exactly once: the mail carries a client key (`client_key`, or a fresh one),
        and after a timeout, a reset connection or a 5xx it is sent again only if no copy with
        that key turned up in Sent Items.  It goes in one sendMail request when it fits (every
        attachment under 3 MB, all under 4 MB), else through a draft and upload sessions.
        ``exactly_once=False`` sends one sendMail request, never repeated after an ambiguous
        failure (which then raises); only that way may `save_to_sent_items` be False.
        """
        message = mail.build_message(
            subject, body, to, cc, bcc, reply_to, html=html, importance=importance
        )
        return self.run(
            mail.compose_and_send(
                message,
                attachments,
                exactly_once=exactly_once,
                save_to_sent_items=save_to_sent_items,
                user=user,
                progress=progress,
                client_key=client_key,
            )
        )

    def send_many(
        self,
        mails: Iterable[mail.OutgoingMail],
        workers: int = OUTLOOK_CONCURRENCY,
        progress: Progress | None = None,
        on_outcome: Callable[[mail.SendOutcome], None] | None = None,
    ) -> list[mail.SendOutcome]:
        """Send many mails, each exactly once, as fast as Outlook's limits allow: `workers` at
        once per mailbox (Outlook takes 4 concurrent requests per app and mailbox), every one
        held back by a 429 for its Retry-After.

        Returns every mail's outcome, in order; one failing does not stop the others.
        `on_outcome` hears of each outcome as soon as it is known (a mail merge's journal),
        from the sending threads; `progress` gets (mails done, mails in all).
        """
        todo = list(mails)
        order = mail.send_order(todo)
        slots = {m.user.lower(): threading.Semaphore(max(1, workers)) for m in todo}
        done = 0
        lock = threading.Lock()

        def one(index: int) -> mail.SendOutcome:
            nonlocal done
            with slots[todo[index].user.lower()]:
                outcome = self._outcome(index, todo[index])
            with lock:
                done += 1
                if on_outcome is not None:
                    on_outcome(outcome)
                if progress is not None:
                    progress(done, len(todo))
            return outcome

        from concurrent.futures import ThreadPoolExecutor  # here: costly, and only for this

        threads = min(MAX_SEND_THREADS, max(1, workers) * len(slots)) or 1
        with ThreadPoolExecutor(threads, thread_name_prefix="graphpost-send") as pool:
            finished = dict(zip(order, pool.map(one, order), strict=True))
        return [finished[index] for index in range(len(todo))]

    def _outcome(self, index: int, outgoing: mail.OutgoingMail) -> mail.SendOutcome:
        try:
            return mail.SendOutcome(index, outgoing, receipt=self.run(outgoing.operation()))
        except Exception as failure:  # reported, not raised: the others go on
            return mail.SendOutcome(index, outgoing, error=failure)

    def find_sent(self, client_key: str, user: str = "me") -> str | None:
        """The id of the mail carrying `client_key` in Sent Items (see `SendReceipt.client_key`),
        or None: whether a mail went out, asked after the fact."""
        return self.run(mail.find_sent(client_key, user))

    def folders(self, user: str = "me") -> list[MailFolder]:
        """The mailbox's top-level mail folders."""
        return self.run(mail.list_folders(user))

    def messages(
        self,
        folder: str | None = "inbox",
        top: int | None = None,
        limit: int | None = None,
        user: str = "me",
        select: Sequence[str] | None = None,
    ) -> Iterator[Message]:
        """Messages of a folder, newest first, fetched page by page (`top` per page) up to `limit`."""
        return self._items(mail.list_messages(folder, top, user, select), mail.next_page, limit)

    def message(
        self, message_id: str, user: str = "me", select: Sequence[str] | None = None
    ) -> Message:
        """One message by id."""
        return self.run(mail.get_message(message_id, user, select))

    def create_draft(self, message: Mapping[str, Any], user: str = "me") -> Message:
        """A draft from a message's JSON (see `build_message`)."""
        return self.run(mail.create_draft(message, user))

    def update_message(
        self, message_id: str, changes: Mapping[str, Any], user: str = "me"
    ) -> Message:
        """Change a message: isRead, categories, flag, importance; content on drafts only."""
        return self.run(mail.update_message(message_id, changes, user))

    def move_message(
        self, message_id: str, destination: str, user: str = "me", copy: bool = False
    ) -> Message:
        """Move (or copy) a message to a folder by id or well-known name; it gets a new id."""
        return self.run(mail.move_message(message_id, destination, user, copy))

    def delete_message(self, message_id: str, user: str = "me") -> None:
        """Delete a message (Exchange's soft delete, into Recoverable Items)."""
        self.run(mail.delete_message(message_id, user))

    def send_draft(self, message_id: str, user: str = "me") -> SendReceipt:
        """Send a draft exactly once (see `graphpost.core.mail.send_draft`)."""
        return self.run(mail.send_draft(message_id, user))

    def attachments(self, message_id: str, user: str = "me") -> list[Attachment]:
        """Every attachment of a message, with file contents decoded."""
        return self.run(mail.list_attachments(message_id, user))

    def attach(
        self,
        message_id: str,
        attachment: mail.FileAttachment,
        user: str = "me",
        progress: Progress | None = None,
    ) -> None:
        """Add an attachment of any size to a draft (3 MB and more through an upload session)."""
        if attachment.is_large:
            self.run(mail.upload_attachment(message_id, attachment, user, progress))
        else:
            self.run(mail.add_attachment(message_id, attachment, user))

    # -- OneDrive ------------------------------------------------------------------------

    def upload(
        self,
        remote_path: str,
        source: bytes | str | Path,
        content_type: str | None = None,
        user: str = "me",
        conflict_behavior: str = "replace",
        progress: Progress | None = None,
    ) -> DriveItem:
        """Put a file (bytes, or a local path) at `remote_path` in the user's OneDrive.

        Small ones go in one request; a local file of more than ``SESSION_THRESHOLD`` bytes goes
        through an upload session whose address is kept on disk, so that running the same
        upload again after an interruption continues where it stopped.
        """
        operation, finished = self.upload_operation(
            remote_path, source, content_type, user, conflict_behavior, progress
        )
        item = self.run(operation)
        finished()
        return item

    def download(
        self,
        destination: str | Path,
        remote_path: str | None = None,
        item_id: str | None = None,
        user: str = "me",
        progress: Progress | None = None,
    ) -> Path:
        """Stream a file to `destination`; what an interrupted run left (``destination.part``)
        is continued with a Range request, not fetched again."""
        target = Path(destination)
        part = target.with_name(target.name + ".part")
        for attempt in range(1, DOWNLOAD_TRIES + 1):
            item = self.run(drive.download_target(remote_path, item_id, user))
            size = item.size or 0
            have = part.stat().st_size if part.exists() else 0
            try:
                with self._http.stream(
                    "GET", str(item.download_url), headers=drive.range_header(have)
                ) as answer:
                    start = drive.check_range_answer(
                        answer.status_code, answer.headers.get("content-range"), have, size
                    )
                    if start < size:
                        with open(part, "ab" if start else "wb") as out:
                            done = start
                            for chunk in answer.iter_bytes(CHUNK):
                                out.write(chunk)
                                done += len(chunk)
                                if progress is not None:
                                    progress(done, size)
            except httpx.TransportError as failure:
                if attempt == DOWNLOAD_TRIES:
                    raise self.failure(failure, Request("GET", str(item.download_url))) from None
                continue
            part.replace(target)
            return target
        raise AssertionError("unreachable")

    def item(
        self, remote_path: str | None = None, item_id: str | None = None, user: str = "me"
    ) -> DriveItem:
        """A drive item by path (from the root) or id."""
        return self.run(drive.get_item(remote_path, item_id, user))

    def children(
        self,
        remote_path: str | None = None,
        item_id: str | None = None,
        user: str = "me",
        top: int | None = None,
        limit: int | None = None,
    ) -> Iterator[DriveItem]:
        """The items in a folder (by path or id), page by page (`top` a page) up to `limit`."""
        return self._items(
            drive.list_children(remote_path, item_id, user, top), drive.next_children, limit
        )

    def create_folder(
        self,
        name: str,
        parent_path: str | None = None,
        user: str = "me",
        conflict_behavior: str = "fail",
    ) -> DriveItem:
        """A folder `name` in `parent_path` (the root by default)."""
        return self.run(drive.create_folder(name, parent_path, user, conflict_behavior))

    def delete(
        self, remote_path: str | None = None, item_id: str | None = None, user: str = "me"
    ) -> None:
        """Delete a drive item by path or id; one already gone is no error."""
        self.run(drive.delete_item(remote_path, item_id, user))

    def create_link(
        self,
        item_id: str,
        type: str = "view",
        scope: str | None = None,
        user: str = "me",
    ) -> SharingLink:
        """A sharing link (type view, edit or embed; scope anonymous, organization or users)."""
        return self.run(drive.create_link(item_id, type, scope, user))

    # -- open extensions and batches -----------------------------------------------------

    def extension(
        self, name: str, user: str = "me", message_id: str | None = None
    ) -> Extension | None:
        """An open extension on the user (or on a message), or None when there is none."""
        return self.run(extensions.get_extension(name, user, message_id))

    def save_extension(
        self, name: str, values: Mapping[str, Any], user: str = "me", message_id: str | None = None
    ) -> Extension:
        """Create or replace the values of an open extension on the user (or a message)."""
        return self.run(extensions.save_extension(name, values, user, message_id))

    def delete_extension(self, name: str, user: str = "me", message_id: str | None = None) -> None:
        """Remove an open extension; one already gone is no error."""
        self.run(extensions.delete_extension(name, user, message_id))

    def batch(self, requests: Sequence[BatchRequest]) -> dict[str, BatchResult]:
        """Many requests in as few round trips as Graph allows (20 a batch); see `core.batch`."""
        return self.run(batching.batch(requests))

    # -- paging ----------------------------------------------------------------------------

    def _items(
        self,
        first: Operation[Page[T]],
        following: Callable[[str], Operation[Page[T]]],
        limit: int | None,
    ) -> Iterator[T]:
        """The items of every page, fetched as they are reached, up to `limit`."""
        if limit is not None and limit <= 0:
            return
        page = self.run(first)
        yielded = 0
        while True:
            for item in page.items:
                yield item
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            if not page.next_link:
                return
            page = self.run(following(page.next_link))
