"""The sandbox's OneDrive surface: drives, children and paging, folders, deletion, upload sessions,
downloads with Range, sharing links; and memory that stays flat under a 1 GiB upload."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphpost.sandbox.process import RunningSandbox, start_sandbox

UNIT = 320 * 1024


class Drive:
    def __init__(self, sandbox: RunningSandbox, name: str) -> None:
        self.sandbox = sandbox
        self.http = sandbox.client(
            headers={"Authorization": f"Bearer {sandbox.user_token(name)}"}, timeout=120
        )

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"{self.sandbox.graph_url}/{path.lstrip('/')}", **kwargs)


@pytest.fixture(scope="module")
def ada(graph_sandbox: RunningSandbox) -> Drive:
    return Drive(graph_sandbox, "ada")


def folder_name() -> str:
    return "t-" + uuid.uuid4().hex[:8]


def error_code(answer: httpx.Response) -> str:
    code: str = answer.json()["error"]["code"]
    return code


def test_drive_and_addressing(ada: Drive, graph_sandbox: RunningSandbox) -> None:
    drive = ada("GET", "me/drive").json()
    assert (
        drive["driveType"] == "business"
        and drive["owner"]["user"]["id"] == graph_sandbox.user("ada")["id"]
    )
    folder = folder_name()
    item = ada("PUT", f"me/drive/root:/{folder}/a.txt:/content", content=b"abc").json()
    by_drive = ada("GET", f"drives/{drive['id']}/items/{item['id']}").json()
    by_path = ada("GET", f"me/drive/root:/{folder}/a.txt:").json()
    assert by_drive["id"] == by_path["id"] == item["id"]
    assert by_path["@microsoft.graph.downloadUrl"].startswith(
        graph_sandbox.info["portal_url"] + "_download/"
    )
    assert ada("GET", "drives/b!nope").status_code == 404


def test_children_paging_folders_and_delete(ada: Drive) -> None:
    folder = folder_name()
    created = ada("POST", "me/drive/root/children", json={"name": folder, "folder": {}})
    assert created.status_code == 201 and created.json()["folder"]["childCount"] == 0
    again = ada("POST", "me/drive/root/children", json={"name": folder, "folder": {}})
    assert again.status_code == 409 and error_code(again) == "nameAlreadyExists"
    renamed = ada(
        "POST",
        "me/drive/root/children",
        json={"name": folder, "folder": {}, "@microsoft.graph.conflictBehavior": "rename"},
    )
    assert renamed.json()["name"] == f"{folder} 1"
    for number in range(5):
        ada(
            "PUT", f"me/drive/root:/{folder}/f{number}.txt:/content", content=b"x"
        ).raise_for_status()
    ada(
        "POST", f"me/drive/root:/{folder}:/children", json={"name": "sub", "folder": {}}
    ).raise_for_status()
    names: list[str] = []
    url = f"me/drive/root:/{folder}:/children?$top=2"
    pages = 0
    while url:
        page = ada("GET", url).json()
        names += [child["name"] for child in page["value"]]
        url = page.get("@odata.nextLink", "").replace(ada.sandbox.graph_url + "/", "")
        pages += 1
    assert names == ["sub", "f0.txt", "f1.txt", "f2.txt", "f3.txt", "f4.txt"] and pages == 3
    folder_id = created.json()["id"]
    assert ada("DELETE", f"me/drive/items/{folder_id}").status_code == 204
    assert error_code(ada("GET", f"me/drive/root:/{folder}/f0.txt")) == "itemNotFound"
    assert ada("DELETE", "me/drive/root").status_code == 403


def test_download_redirects_to_a_url_that_honours_range(
    ada: Drive, graph_sandbox: RunningSandbox
) -> None:
    content = os.urandom(300_000)
    folder = folder_name()
    item = ada("PUT", f"me/drive/root:/{folder}/data.bin:/content", content=content).json()
    redirected = ada("GET", f"me/drive/items/{item['id']}/content")
    assert redirected.status_code == 302
    location = redirected.headers["Location"]
    assert ada("GET", f"me/drive/root:/{folder}/data.bin:/content").status_code == 302
    with graph_sandbox.client() as anonymous:  # no token needed, none sent
        assert anonymous.get(location).content == content
        parts = b""
        for start in range(0, len(content), 100_000):
            piece = anonymous.get(location, headers={"Range": f"bytes={start}-{start + 99_999}"})
            assert piece.status_code == 206
            assert (
                piece.headers["Content-Range"]
                == f"bytes {start}-{min(start + 99_999, len(content) - 1)}/{len(content)}"
            )
            parts += piece.content
        assert parts == content
        assert (
            anonymous.get(location, headers={"Range": f"bytes={len(content) + 5}-"}).status_code
            == 416
        )
        assert anonymous.get(location[:-3] + "xyz").status_code == 404


def test_upload_session_in_fragments_with_an_interruption_and_resume(
    ada: Drive, graph_sandbox: RunningSandbox
) -> None:
    content = os.urandom(3 * UNIT * 2 + 12345)
    folder = folder_name()
    created = ada(
        "POST",
        f"me/drive/root:/{folder}/big.bin:/createUploadSession",
        json={"item": {"@microsoft.graph.conflictBehavior": "replace"}},
    )
    assert created.status_code == 200
    session = created.json()
    assert session["nextExpectedRanges"] == ["0-"]
    url = session["uploadUrl"]
    step = 2 * UNIT
    with graph_sandbox.client() as anonymous:

        def put(start: int, end: int, **headers: str) -> httpx.Response:
            return anonymous.put(
                url,
                content=content[start : end + 1],
                headers={"Content-Range": f"bytes {start}-{end}/{len(content)}", **headers},
            )

        assert put(0, step - 1, Authorization="Bearer x").status_code == 401
        first = put(0, step - 1)
        assert first.status_code == 202 and first.json()["nextExpectedRanges"] == [f"{step}-"]
        overlap = put(UNIT, UNIT + step - 1)
        assert overlap.status_code == 416 and error_code(overlap) == "invalidRange"
        assert put(step, step + 1000).status_code == 400  # not a multiple of 320 KiB
        # an interrupted client asks where to resume
        status = anonymous.get(url).json()
        assert status["nextExpectedRanges"] == [f"{step}-"]
        resume_at = int(status["nextExpectedRanges"][0].rstrip("-"))
        middle = put(resume_at, resume_at + step - 1)
        assert middle.status_code == 202
        last = put(2 * step, len(content) - 1)
        assert last.status_code == 201
        item = last.json()
        assert item["name"] == "big.bin" and item["size"] == len(content)
        assert item["file"]["hashes"]["sha256Hash"] == hashlib.sha256(content).hexdigest().upper()
        assert anonymous.get(url).status_code == 404  # the session is over
        location = ada("GET", f"me/drive/items/{item['id']}/content").headers["Location"]
        assert anonymous.get(location).content == content


def test_upload_session_conflicts_cancel_and_expiry(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    sandbox = start_sandbox(tmp_path_factory.mktemp("drive-sessions"), "--userrealm-port", "0")
    try:
        ada = Drive(sandbox, "ada")
        ada("PUT", "me/drive/root:/taken.txt:/content", content=b"old").raise_for_status()
        with sandbox.client() as anonymous:
            url = ada("POST", "me/drive/root:/taken.txt:/createUploadSession").json()["uploadUrl"]
            committed = anonymous.put(url, content=b"new", headers={"Content-Range": "bytes 0-2/3"})
            assert (
                committed.status_code == 409 and error_code(committed) == "nameAlreadyExists"
            )  # default: fail
            assert (
                ada("GET", "me/drive/root:/taken.txt:/content", follow_redirects=True).content
                == b"old"
            )
            wrong = ada(
                "POST",
                "me/drive/root:/a.txt:/createUploadSession",
                json={"item": {"name": "b.txt"}},
            )
            assert wrong.status_code == 400
            cancelled = ada("POST", "me/drive/root:/c.txt:/createUploadSession").json()["uploadUrl"]
            assert anonymous.delete(cancelled).status_code == 204
            assert anonymous.get(cancelled).status_code == 404
            expiring = ada("POST", "me/drive/root:/d.txt:/createUploadSession").json()["uploadUrl"]
            download = ada("GET", "me/drive/root:/taken.txt:/content").headers["Location"]
            sandbox.advance_clock(25 * 3600)
            assert (
                anonymous.put(
                    expiring, content=b"x", headers={"Content-Range": "bytes 0-0/1"}
                ).status_code
                == 404
            )
            assert anonymous.get(download).status_code == 401  # download URLs expire too
    finally:
        sandbox.stop()


def test_links_of_each_type_and_scope(ada: Drive, graph_sandbox: RunningSandbox) -> None:
    item = ada(
        "PUT", f"me/drive/root:/{folder_name()}/shared.txt:/content", content=b"shared"
    ).json()
    for link_type, role in (("view", "read"), ("edit", "write")):
        for scope in ("anonymous", "organization"):
            created = ada(
                "POST",
                f"me/drive/items/{item['id']}/createLink",
                json={"type": link_type, "scope": scope},
            )
            assert created.status_code == 201 and created.json()["roles"] == [role]
            assert (
                ada(
                    "POST",
                    f"me/drive/items/{item['id']}/createLink",
                    json={"type": link_type, "scope": scope},
                ).status_code
                == 200
            )


def test_every_item_route_takes_a_path_below_the_root_or_below_an_item(ada: Drive) -> None:
    """OneDrive's path-based addressing: everything between the two colons is a path below the
    item before it, followed by any property, relationship or action of the item."""
    folder = ada("POST", "me/drive/root/children", json={"name": folder_name(), "folder": {}})
    folder_id = folder.json()["id"]
    below = f"me/drive/items/{folder_id}:/sub/a.txt:"
    put = ada("PUT", f"{below}/content", content=b"first", headers={"Content-Type": "text/plain"})
    assert put.status_code == 201
    item = put.json()
    assert item["name"] == "a.txt" and item["parentReference"]["path"].endswith("/sub")
    by_root = f"me/drive/root:/{folder.json()['name']}/sub/a.txt:"
    drive_id = ada("GET", "me/drive").json()["id"]
    for address in (
        below,
        by_root,
        by_root.rstrip(":"),  # alone at the end, the closing colon may be left off
        by_root.replace("drive/root", "drive/items/root"),
        below.replace("me/drive", f"drives/{drive_id}"),
    ):
        assert ada("GET", address).json()["id"] == item["id"], address
    # new content by path and by id keeps the item
    again = ada("PUT", f"{by_root}/content", content=b"second")
    assert again.status_code == 200 and again.json()["id"] == item["id"]
    replaced = ada("PUT", f"me/drive/items/{item['id']}/content", content=b"third")
    assert replaced.status_code == 200 and replaced.json()["size"] == 5
    assert ada("GET", f"{below}/content", follow_redirects=True).content == b"third"
    # children and folders below a path
    made = ada(
        "POST", f"me/drive/items/{folder_id}:/sub:/children", json={"name": "inner", "folder": {}}
    )
    assert made.status_code == 201
    listed = ada("GET", f"me/drive/items/{folder_id}:/sub:/children").json()["value"]
    assert sorted(child["name"] for child in listed) == ["a.txt", "inner"]
    child = ada(
        "PUT", f"me/drive/items/{folder_id}:/sub/inner:/children/b.txt/content", content=b"b"
    )
    assert child.status_code == 201 and child.json()["name"] == "b.txt"
    # actions: a link by path is the link by id
    by_id = ada("POST", f"me/drive/items/{item['id']}/createLink", json={"type": "view"})
    for address in (below, by_root):
        link = ada("POST", f"{address}/createLink", json={"type": "view"})
        assert link.status_code == 200 and link.json()["id"] == by_id.json()["id"], address
    missing = ada(
        "POST", f"me/drive/items/{folder_id}:/sub/none.txt:/createLink", json={"type": "view"}
    )
    assert missing.status_code == 404 and error_code(missing) == "itemNotFound"
    session = ada("POST", f"me/drive/items/{folder_id}:/sub/c.bin:/createUploadSession")
    assert session.status_code == 200 and "uploadUrl" in session.json()
    version = ada("POST", f"me/drive/items/{item['id']}/createUploadSession")
    assert version.status_code == 200
    # without the closing colon the path runs to the end: "sub/content" is an item's name
    named = ada("PUT", f"me/drive/items/{folder_id}:/sub/content:/content", content=b"c")
    assert ada("GET", f"me/drive/items/{folder_id}:/sub/content").json()["id"] == named.json()["id"]
    assert ada("PUT", f"me/drive/items/{folder_id}/content", content=b"x").status_code == 400
    assert ada("DELETE", below).status_code == 204
    assert error_code(ada("GET", f"me/drive/items/{item['id']}")) == "itemNotFound"


def test_a_batch_uploads_a_file_and_shares_it_by_path(
    ada: Drive, graph_sandbox: RunningSandbox
) -> None:
    """What the web app sends for a new user's photo: the upload (binary, base64 in the batch)
    and the link by the same path, after it."""
    picture = os.urandom(2000)
    path = f"/me/drive/root:/{folder_name()}/photo.png:"
    requests = [
        {
            "id": "upload",
            "method": "PUT",
            "url": f"{path}/content",
            "headers": {"Content-Type": "image/png"},
            "body": base64.b64encode(picture).decode(),
        },
        {
            "id": "link",
            "method": "POST",
            "url": f"{path}/createLink",
            "headers": {"Content-Type": "application/json"},
            "body": {"type": "view", "scope": "organization"},
            "dependsOn": ["upload"],
        },
    ]
    since = graph_sandbox.request_log_position()
    answer = ada("POST", "$batch", json={"requests": requests})
    assert answer.status_code == 200
    results = {r["id"]: r for r in answer.json()["responses"]}
    assert results["upload"]["status"] == 201 and results["link"]["status"] == 201
    item = results["upload"]["body"]
    assert item["name"] == "photo.png" and item["file"]["mimeType"] == "image/png"
    assert ada("GET", f"{path}/content", follow_redirects=True).content == picture
    link = results["link"]["body"]
    assert link["link"]["type"] == "view" and link["link"]["webUrl"]
    again = ada("POST", "$batch", json={"requests": [{**requests[1], "dependsOn": []}]})
    assert again.json()["responses"][0]["status"] == 200
    assert again.json()["responses"][0]["body"]["id"] == link["id"]
    # the log names the batch each of its requests came in
    logged = [e for e in graph_sandbox.request_log(since) if e["path"].startswith("/v1.0/")]
    envelopes = [e for e in logged if e["path"] == "/v1.0/$batch"]
    assert len(envelopes) == 2
    inside = [e for e in logged if e.get("batch")]
    assert [e["method"] for e in inside] == ["PUT", "POST", "POST"]
    assert {e["batch"] for e in inside} == {e["request_id"] for e in envelopes}
    assert all("batch" not in e for e in envelopes)


def test_simple_upload_stops_at_250_mb(ada: Drive, graph_sandbox: RunningSandbox) -> None:
    folder = folder_name()
    mib = bytes(1024 * 1024)
    exactly = ada("PUT", f"me/drive/root:/{folder}/limit.bin:/content", content=iter([mib] * 250))
    assert exactly.status_code == 201 and exactly.json()["size"] == 250 * 1024 * 1024
    for headers in ({"Content-Length": str(251 * 1024 * 1024)}, {}):  # stated, or found out
        over = ada(
            "PUT",
            f"me/drive/root:/{folder}/over.bin:/content",
            content=iter([mib] * 251),
            headers=headers,
        )
        assert over.status_code == 413 and error_code(over) == "maxFileSizeExceeded"
    assert error_code(ada("GET", f"me/drive/root:/{folder}/over.bin")) == "itemNotFound"
    assert list(graph_sandbox.data_dir.rglob("*.part")) == []  # nothing of it kept on disk


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture
def big_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("big"), "--userrealm-port", "0")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_a_gibibyte_upload_keeps_memory_flat(big_sandbox: RunningSandbox) -> None:
    ada = Drive(big_sandbox, "ada")
    ada("PUT", "me/drive/root:/warm.txt:/content", content=b"warm").raise_for_status()
    before = peak_rss_kib(big_sandbox.process.pid)
    total = 1024**3
    fragment = 32 * UNIT * 5  # 50 MiB, a multiple of 320 KiB
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()

    def body(size: int) -> Iterator[bytes]:
        sent = 0
        while sent < size:
            piece = block[: min(len(block), size - sent)]
            digest.update(piece)
            sent += len(piece)
            yield piece

    url = ada("POST", "me/drive/root:/big/gib.bin:/createUploadSession").json()["uploadUrl"]
    with big_sandbox.client(timeout=300) as anonymous:
        start = 0
        while start < total:
            end = min(start + fragment, total) - 1
            answer = anonymous.put(
                url,
                content=body(end - start + 1),
                headers={
                    "Content-Range": f"bytes {start}-{end}/{total}",
                    "Content-Length": str(end - start + 1),
                },
            )
            assert answer.status_code in (201, 202), answer.text
            start = end + 1
    assert answer.json()["size"] == total
    assert answer.json()["file"]["hashes"]["sha256Hash"] == digest.hexdigest().upper()
    simple = bytes(200 * 1024 * 1024)
    item = ada("PUT", "me/drive/root:/big/simple.bin:/content", content=simple).json()
    link = ada(
        "POST",
        f"me/drive/items/{item['id']}/createLink",
        json={"type": "view", "scope": "anonymous"},
    ).json()["link"]["webUrl"]
    portal = f"{big_sandbox.info['portal_url']}portal/drive/{item['id']}/content"
    download = ada("GET", f"me/drive/items/{item['id']}/content").headers["Location"]
    with big_sandbox.client(timeout=300) as anonymous:
        # every way out of the sandbox streams the file: the download URL, the sharing link, the portal
        for url in (download, link, portal):
            with anonymous.stream("GET", url) as answer:
                assert answer.status_code == 200, url
                assert sum(len(piece) for piece in answer.iter_bytes(1024 * 1024)) == len(simple)
        # a JSON body over Graph's 4 MB is refused, never read whole: with a length or chunked
        mib = bytes(1024 * 1024)
        for content in (mib * 50, iter([mib] * 50)):
            refused = anonymous.post(
                f"{big_sandbox.graph_url}/me/drive/items/{item['id']}/createLink",
                content=content,
                headers={"Authorization": ada.http.headers["Authorization"]},
            )
            assert refused.status_code == 413
            assert refused.json()["error"]["code"] == "RequestEntityTooLarge"
    grown_mib = (peak_rss_kib(big_sandbox.process.pid) - before) / 1024
    assert grown_mib < 64, f"the sandbox's peak memory grew by {grown_mib:.0f} MiB"
