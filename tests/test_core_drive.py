"""OneDrive operations as plain data: small uploads by path and sharing links."""

from __future__ import annotations

import pytest

from graphpost.core import drive
from graphpost.errors import Conflict, SizeLimitExceeded
from tests.support.operations import drive as run
from tests.support.operations import graph_error, response

ITEM = {
    "id": "01ABC",
    "name": "photo.jpeg",
    "size": 4,
    "webUrl": "https://contoso-my.sharepoint.com/x",
}


def test_upload_small_puts_the_bytes_at_the_path() -> None:
    sent, item = run(drive.upload_small("photo.jpeg", b"\xff\xd8\xff\xe0"), response(201, ITEM))
    (request,) = sent
    assert (request.method, request.url) == ("PUT", "/me/drive/root:/photo.jpeg:/content")
    assert request.content == b"\xff\xd8\xff\xe0" and request.json is None
    assert request.headers["Content-Type"] == "image/jpeg"  # guessed from the name
    assert dict(request.params) == {}  # replace is Graph's default: not sent
    assert request.is_idempotent
    assert (item.id, item.name, item.size) == ("01ABC", "photo.jpeg", 4)


def test_upload_small_quotes_each_path_segment() -> None:
    request = next(drive.upload_small("/My Files/Q&A #1/résumé.pdf", b"%PDF"))
    assert request.url == "/me/drive/root:/My%20Files/Q%26A%20%231/r%C3%A9sum%C3%A9.pdf:/content"
    assert request.headers["Content-Type"] == "application/pdf"


def test_upload_small_for_another_user_with_content_type_and_conflict_behavior() -> None:
    request = next(
        drive.upload_small(
            "a.bin", b"x", content_type="text/csv", user="u1", conflict_behavior="rename"
        )
    )
    assert (
        request.url
        == "/users/u1/drive/root:/a.bin:/content?@microsoft.graph.conflictBehavior=rename"
    )
    assert request.headers["Content-Type"] == "text/csv"
    assert not request.is_idempotent


def test_upload_small_unknown_type_is_octet_stream() -> None:
    assert (
        next(drive.upload_small("data.zzz9", b"x")).headers["Content-Type"]
        == "application/octet-stream"
    )


def test_upload_small_replacing_answers_200() -> None:
    _, item = run(drive.upload_small("photo.jpeg", b"x"), response(200, ITEM))
    assert item.id == "01ABC"


def test_upload_small_conflict_raises() -> None:
    with pytest.raises(Conflict):
        run(
            drive.upload_small("a.txt", b"x", conflict_behavior="fail"),
            graph_error(409, "nameAlreadyExists", "The specified item name already exists."),
        )


class HugeBytes(bytes):
    """Claims 250 MB + 1 without allocating it."""

    def __len__(self) -> int:
        return drive.MAX_SIMPLE_UPLOAD_BYTES + 1


def test_upload_small_refuses_over_250_mb_before_sending() -> None:
    with pytest.raises(SizeLimitExceeded) as caught:
        next(drive.upload_small("big.iso", HugeBytes(b"x")))
    assert caught.value.limit == 250 * 1024 * 1024
    assert "upload session" in str(caught.value)


@pytest.mark.parametrize(
    ("path", "behavior"), [("", "replace"), ("/", "replace"), ("a.txt", "overwrite")]
)
def test_upload_small_rejects_bad_arguments(path: str, behavior: str) -> None:
    with pytest.raises(ValueError):
        next(drive.upload_small(path, b"x", conflict_behavior=behavior))


PERMISSION = {
    "id": "123ABC",
    "roles": ["read"],
    "link": {
        "type": "view",
        "scope": "organization",
        "webUrl": "https://contoso-my.sharepoint.com/:i:/g/x",
    },
}


def test_create_link_created() -> None:
    sent, link = run(drive.create_link("01ABC", scope="organization"), response(201, PERMISSION))
    (request,) = sent
    assert (request.method, request.url) == ("POST", "/me/drive/items/01ABC/createLink")
    assert request.json == {"type": "view", "scope": "organization"}
    assert link.created and link.web_url == "https://contoso-my.sharepoint.com/:i:/g/x"
    assert (link.type, link.scope) == ("view", "organization")


def test_create_link_existing_and_default_scope() -> None:
    sent, link = run(drive.create_link("01ABC", type="edit", user="u1"), response(200, PERMISSION))
    assert sent[0].url == "/users/u1/drive/items/01ABC/createLink"
    assert sent[0].json == {"type": "edit"}  # no scope: the tenant's default
    assert not link.created


@pytest.mark.parametrize(("kind", "scope"), [("share", None), ("view", "everyone")])
def test_create_link_rejects_unknown_type_or_scope(kind: str, scope: str | None) -> None:
    with pytest.raises(ValueError):
        next(drive.create_link("01ABC", type=kind, scope=scope))


def test_upload_chunks_stream_in_blocks_and_grow_with_the_file() -> None:
    from graphpost.core import uploads

    mib = 1024 * 1024
    assert uploads.ONEDRIVE.chunk_for(50 * mib) == uploads.ONEDRIVE_CHUNK  # 10 MiB
    assert uploads.ONEDRIVE.chunk_for(300 * mib) == 96 * uploads.ONEDRIVE_UNIT  # a tenth
    assert uploads.ONEDRIVE.chunk_for(4096 * mib) == uploads.ONEDRIVE_MAX_CHUNK  # < 60 MiB
    assert uploads.OUTLOOK.chunk_for(150 * mib) == uploads.OUTLOOK_CHUNK
    data = bytes(range(256)) * (12 * mib // 256)
    reads: list[int] = []

    def read(offset: int, length: int) -> bytes:
        reads.append(length)
        return data[offset : offset + length]

    operation = uploads.put_bytes("https://up.example/s", len(data), read, uploads.ONEDRIVE)
    first = next(operation)
    assert first.content is None and first.stream is not None
    assert first.headers["Content-Length"] == str(uploads.ONEDRIVE_CHUNK)
    assert reads == []  # nothing read before the request goes
    assert b"".join(first.stream()) == data[: uploads.ONEDRIVE_CHUNK]
    assert max(reads) <= uploads.BLOCK
    again = b"".join(first.stream())  # each try reads afresh
    assert again == data[: uploads.ONEDRIVE_CHUNK]
    second = operation.send(response(202, {"nextExpectedRanges": [f"{uploads.ONEDRIVE_CHUNK}-"]}))
    assert second.headers["Content-Range"] == (
        f"bytes {uploads.ONEDRIVE_CHUNK}-{len(data) - 1}/{len(data)}"
    )
    shrunk = uploads.blocks(lambda offset, length: b"x", 0, 10)
    with pytest.raises(ValueError, match="changed during the upload"):
        b"".join(shrunk())
