"""The asynchronous Graph client: the same operations and method names as `Graph`, over
httpx.AsyncClient, awaited."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from graphpost.config import DEFAULT_GRAPH_URL, Settings
from graphpost.core import batch as batching
from graphpost.core import drive, extensions, mail, users
from graphpost.core.batch import BatchRequest, BatchResult
from graphpost.core.http import PAUSED, Operation, Request, Response, pause_seconds
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
    TokenSource,
    plain_response,
    tls_verification,
)

__all__ = ["AsyncGraph"]

T = TypeVar("T")
OUTLOOK_CONCURRENCY = 4
DOWNLOAD_TRIES = 5
CHUNK = 1024 * 1024


class AsyncGraph(ClientBase):
    """`Graph`, for asyncio: ``async with AsyncGraph(token) as graph: await graph.me()``.

    `token` may be a string, a function, or a coroutine function; a plain function (MSAL's
    token cache is synchronous) runs in a worker thread so the event loop never waits on it.
    """

    def __init__(
        self,
        token: TokenSource,
        *,
        graph_url: str = DEFAULT_GRAPH_URL,
        verify: bool | str | Path = True,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        user_agent: str = USER_AGENT,
        state_dir: str | Path | None = None,
    ) -> None:
        super().__init__(token, graph_url, retry, user_agent, state_dir)
        self._sleep = sleep
        self._owns_client = http_client is None
        self._http = http_client or httpx.AsyncClient(
            verify=tls_verification(verify), timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, token_provider: TokenSource, **options: Any
    ) -> AsyncGraph:
        return cls(
            token_provider, graph_url=settings.graph_url, verify=settings.ca_file or True, **options
        )

    @classmethod
    def from_env(cls, **options: Any) -> AsyncGraph:
        """An app-only client from the configuration (see `Graph.from_env`)."""
        from graphpost.auth import AppTokenProvider

        settings = Settings.from_env(app="daemon")
        return cls.from_settings(settings, AppTokenProvider(settings), **options)

    async def __aenter__(self) -> AsyncGraph:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections this client opened (not an `http_client` it was given)."""
        if self._owns_client:
            await self._http.aclose()

    # -- driving operations -------------------------------------------------------------

    async def run(self, operation: Operation[T]) -> T:
        """Drive any `graphpost.core` operation to its result."""
        try:
            request = next(operation)
            while True:
                request = operation.send(await self.send(request))
        except StopIteration as done:
            result: T = done.value
            return result

    async def send(self, request: Request) -> Response:
        """Send `request`, sending the same request again while the retry policy says so."""
        wait = pause_seconds(request)
        if wait is not None:
            await self._sleep(wait)
            return PAUSED
        attempt = 0
        wait = self.throttled_for(request)  # another's 429 on its mailbox holds it too
        while True:
            attempt += 1
            if wait > 0:
                await self._sleep(wait)
            outcome: Response | TransportError
            try:
                outcome = await self._send_once(request)
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

    async def _send_once(self, request: Request) -> Response:
        url = self.url_of(request)
        token = await self._access_token() if request.authenticated else None
        headers = self.headers_for(request, url, token)
        body = (
            _async_blocks(request.stream()) if request.stream is not None else request.body_bytes()
        )
        reply = await self._http.request(request.method, url, headers=headers, content=body)
        return plain_response(reply)

    async def _access_token(self) -> str:
        if isinstance(self._token, str):
            return self._token
        if inspect.iscoroutinefunction(self._token):
            token = await self._token()
        else:
            token = await asyncio.to_thread(self._token)
        if not isinstance(token, str):
            raise TypeError("the token source gave no token")
        return token

    # -- users -------------------------------------------------------------------------

    async def me(self, select: Sequence[str] | None = None) -> User:
        """The signed-in user's profile (`$select` narrows it)."""
        return await self.run(users.get_me(select))

    async def user(self, id_or_upn: str, select: Sequence[str] | None = None) -> User:
        """A user by id or userPrincipalName (app-only, or a delegated token allowed to read users)."""
        return await self.run(users.get_user(id_or_upn, select))

    async def photo(self, user: str = "me", size: str | None = None) -> Photo | None:
        """The user's profile photo, or None when they have none."""
        return await self.run(users.get_photo(user, size))

    # -- mail ----------------------------------------------------------------------------

    async def send_mail(
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
        """See `Graph.send_mail`."""
        message = mail.build_message(
            subject, body, to, cc, bcc, reply_to, html=html, importance=importance
        )
        return await self.run(
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

    async def send_many(
        self,
        mails: Iterable[mail.OutgoingMail],
        workers: int = OUTLOOK_CONCURRENCY,
        progress: Progress | None = None,
        on_outcome: Callable[[mail.SendOutcome], None] | None = None,
    ) -> list[mail.SendOutcome]:
        """See `Graph.send_many`: `workers` sends at once per mailbox, a 429 holding back all."""
        todo = list(mails)
        slots = {m.user.lower(): asyncio.Semaphore(max(1, workers)) for m in todo}
        done = 0

        async def one(index: int) -> mail.SendOutcome:
            nonlocal done
            outgoing = todo[index]
            async with slots[outgoing.user.lower()]:
                try:
                    outcome = mail.SendOutcome(
                        index, outgoing, receipt=await self.run(outgoing.operation())
                    )
                except Exception as failure:  # reported, not raised: the others go on
                    outcome = mail.SendOutcome(index, outgoing, error=failure)
            done += 1
            if on_outcome is not None:
                on_outcome(outcome)
            if progress is not None:
                progress(done, len(todo))
            return outcome

        finished = await asyncio.gather(*(one(i) for i in mail.send_order(todo)))
        return sorted(finished, key=lambda outcome: outcome.index)

    async def find_sent(self, client_key: str, user: str = "me") -> str | None:
        """See `Graph.find_sent`."""
        return await self.run(mail.find_sent(client_key, user))

    async def folders(self, user: str = "me") -> list[MailFolder]:
        """The mailbox's top-level mail folders."""
        return await self.run(mail.list_folders(user))

    def messages(
        self,
        folder: str | None = "inbox",
        top: int | None = None,
        limit: int | None = None,
        user: str = "me",
        select: Sequence[str] | None = None,
    ) -> AsyncIterator[Message]:
        """``async for message in graph.messages(...)``: page by page, up to `limit`."""
        return self._items(mail.list_messages(folder, top, user, select), mail.next_page, limit)

    async def message(
        self, message_id: str, user: str = "me", select: Sequence[str] | None = None
    ) -> Message:
        """One message by id."""
        return await self.run(mail.get_message(message_id, user, select))

    async def create_draft(self, message: Mapping[str, Any], user: str = "me") -> Message:
        """A draft from a message's JSON (see `build_message`)."""
        return await self.run(mail.create_draft(message, user))

    async def update_message(
        self, message_id: str, changes: Mapping[str, Any], user: str = "me"
    ) -> Message:
        """Change a message: isRead, categories, flag, importance; content on drafts only."""
        return await self.run(mail.update_message(message_id, changes, user))

    async def move_message(
        self, message_id: str, destination: str, user: str = "me", copy: bool = False
    ) -> Message:
        """Move (or copy) a message to a folder by id or well-known name; it gets a new id."""
        return await self.run(mail.move_message(message_id, destination, user, copy))

    async def delete_message(self, message_id: str, user: str = "me") -> None:
        """Delete a message (Exchange's soft delete, into Recoverable Items)."""
        await self.run(mail.delete_message(message_id, user))

    async def send_draft(self, message_id: str, user: str = "me") -> SendReceipt:
        """Send a draft exactly once (see `graphpost.core.mail.send_draft`)."""
        return await self.run(mail.send_draft(message_id, user))

    async def attachments(self, message_id: str, user: str = "me") -> list[Attachment]:
        """Every attachment of a message, with file contents decoded."""
        return await self.run(mail.list_attachments(message_id, user))

    async def attach(
        self,
        message_id: str,
        attachment: mail.FileAttachment,
        user: str = "me",
        progress: Progress | None = None,
    ) -> None:
        """Add an attachment of any size to a draft (3 MB and more through an upload session)."""
        if attachment.is_large:
            await self.run(mail.upload_attachment(message_id, attachment, user, progress))
        else:
            await self.run(mail.add_attachment(message_id, attachment, user))

    # -- OneDrive ------------------------------------------------------------------------

    async def upload(
        self,
        remote_path: str,
        source: bytes | str | Path,
        content_type: str | None = None,
        user: str = "me",
        conflict_behavior: str = "replace",
        progress: Progress | None = None,
    ) -> DriveItem:
        """See `Graph.upload`."""
        operation, finished = self.upload_operation(
            remote_path, source, content_type, user, conflict_behavior, progress
        )
        item = await self.run(operation)
        finished()
        return item

    async def download(
        self,
        destination: str | Path,
        remote_path: str | None = None,
        item_id: str | None = None,
        user: str = "me",
        progress: Progress | None = None,
    ) -> Path:
        """See `Graph.download`."""
        target = Path(destination)
        part = target.with_name(target.name + ".part")
        for attempt in range(1, DOWNLOAD_TRIES + 1):
            item = await self.run(drive.download_target(remote_path, item_id, user))
            size = item.size or 0
            have = part.stat().st_size if part.exists() else 0
            try:
                async with self._http.stream(
                    "GET", str(item.download_url), headers=drive.range_header(have)
                ) as answer:
                    start = drive.check_range_answer(
                        answer.status_code, answer.headers.get("content-range"), have, size
                    )
                    if start < size:
                        with open(part, "ab" if start else "wb") as out:
                            done = start
                            async for chunk in answer.aiter_bytes(CHUNK):
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

    async def item(
        self, remote_path: str | None = None, item_id: str | None = None, user: str = "me"
    ) -> DriveItem:
        """A drive item by path (from the root) or id."""
        return await self.run(drive.get_item(remote_path, item_id, user))

    def children(
        self,
        remote_path: str | None = None,
        item_id: str | None = None,
        user: str = "me",
        top: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[DriveItem]:
        """The items in a folder (by path or id), page by page (`top` a page) up to `limit`."""
        return self._items(
            drive.list_children(remote_path, item_id, user, top), drive.next_children, limit
        )

    async def create_folder(
        self,
        name: str,
        parent_path: str | None = None,
        user: str = "me",
        conflict_behavior: str = "fail",
    ) -> DriveItem:
        """A folder `name` in `parent_path` (the root by default)."""
        return await self.run(drive.create_folder(name, parent_path, user, conflict_behavior))

    async def delete(
        self, remote_path: str | None = None, item_id: str | None = None, user: str = "me"
    ) -> None:
        """Delete a drive item by path or id; one already gone is no error."""
        await self.run(drive.delete_item(remote_path, item_id, user))

    async def create_link(
        self,
        item_id: str,
        type: str = "view",
        scope: str | None = None,
        user: str = "me",
    ) -> SharingLink:
        """A sharing link (type view, edit or embed; scope anonymous, organization or users)."""
        return await self.run(drive.create_link(item_id, type, scope, user))

    # -- open extensions and batches -----------------------------------------------------

    async def extension(
        self, name: str, user: str = "me", message_id: str | None = None
    ) -> Extension | None:
        """An open extension on the user (or on a message), or None when there is none."""
        return await self.run(extensions.get_extension(name, user, message_id))

    async def save_extension(
        self, name: str, values: Mapping[str, Any], user: str = "me", message_id: str | None = None
    ) -> Extension:
        """Create or replace the values of an open extension on the user (or a message)."""
        return await self.run(extensions.save_extension(name, values, user, message_id))

    async def delete_extension(
        self, name: str, user: str = "me", message_id: str | None = None
    ) -> None:
        """Remove an open extension; one already gone is no error."""
        await self.run(extensions.delete_extension(name, user, message_id))

    async def batch(self, requests: Sequence[BatchRequest]) -> dict[str, BatchResult]:
        """Many requests in as few round trips as Graph allows (20 a batch); see `core.batch`."""
        return await self.run(batching.batch(requests))

    # -- paging ----------------------------------------------------------------------------

    async def _items(
        self,
        first: Operation[Page[T]],
        following: Callable[[str], Operation[Page[T]]],
        limit: int | None,
    ) -> AsyncIterator[T]:
        if limit is not None and limit <= 0:
            return
        page = await self.run(first)
        yielded = 0
        while True:
            for item in page.items:
                yield item
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            if not page.next_link:
                return
            page = await self.run(following(page.next_link))


async def _async_blocks(blocks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A streamed body for httpx.AsyncClient (which takes only async iterables): blocks of a
    local file, read in turn; each read is of one block from the page cache, too short to be
    worth a thread."""
    for block in blocks:
        yield block
