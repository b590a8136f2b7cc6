"""Pieces every operation shares: request ids, addressing a user, OData query options, paging."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from graphpost.core.errors import expect_ok
from graphpost.core.http import JSON, Operation, Request, path_segment
from graphpost.models import Page

T = TypeVar("T")


def graph_request(
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    content: bytes | None = None,
    idempotent: bool | None = None,
    authenticated: bool = True,
    report_failures: bool = False,
    stream: Callable[[], Iterator[bytes]] | None = None,
) -> Request:
    """A `Request` with a fresh ``client-request-id``, so each call can be traced in Graph's logs."""
    return Request(
        method=method,
        url=url,
        params=dict(params or {}),
        headers={
            "client-request-id": str(uuid.uuid4()),
            "return-client-request-id": "true",
            **(headers or {}),
        },
        json=json,
        content=content,
        authenticated=authenticated,
        idempotent=idempotent,
        report_failures=report_failures,
        stream=stream,
    )


def owner_path(user: str) -> str:
    """``/me`` or ``/users/{id or UPN}`` (a UPN starting with ``$`` needs the ``('…')`` form)."""
    if user == "me":
        return "/me"
    if not user:
        raise ValueError("user must be 'me', a user id or a userPrincipalName")
    if user.startswith("$"):
        quoted = quote(user.replace("'", "''"), safe="@$'")
        return f"/users('{quoted}')"
    return f"/users/{path_segment(user)}"


def odata_params(select: Sequence[str] | None = None, top: int | None = None) -> dict[str, str]:
    params: dict[str, str] = {}
    if select:
        params["$select"] = ",".join(select)
    if top is not None:
        if top < 1:
            raise ValueError("top must be at least 1")
        params["$top"] = str(top)
    return params


def read_page(body: JSON, parse: Callable[[JSON], T]) -> Page[T]:
    items = [parse(item) for item in body.get("value") or []]
    return Page(items=tuple(items), next_link=body.get("@odata.nextLink"), raw=body)


def get_page(request: Request, parse: Callable[[JSON], T]) -> Operation[Page[T]]:
    """One page of a collection; its `next_link` is fetched with `next_page_request`."""
    response = expect_ok((yield request))
    return read_page(response.json() or {}, parse)


def next_page_request(next_link: str) -> Request:
    """``@odata.nextLink`` is an absolute URL carrying every query option: sent as is."""
    if not next_link.startswith("https://") and not next_link.startswith("http://"):
        raise ValueError("a next link is an absolute URL from @odata.nextLink")
    return graph_request("GET", next_link)
