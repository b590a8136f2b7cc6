"""`graphpost upload`, `download` and `link` as real processes: files larger than one chunk,
interrupted and resumed; progress on a terminal (with and without NO_COLOR), quiet elsewhere."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from graphpost.sandbox.process import RunningSandbox
from tests.support.cli import (
    GRAPHPOST,
    colours,
    graphpost,
    home,
    in_terminal,
    signed_in_env,
)

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def ada(graph_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return signed_in_env(graph_sandbox, tmp_path_factory, "ada", "files")


def random_file(folder: Path, size: int) -> Path:
    path = folder / f"{uuid.uuid4().hex[:8]}.bin"
    path.write_bytes(os.urandom(size))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_upload_download_and_share_a_small_file(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    local = random_file(home(ada), 100_000)
    remote = f"cli/{local.name}"
    up = graphpost("upload", str(local), "cli/", "--json", env=ada)
    assert up.returncode == 0, up.stderr
    item = json.loads(up.stdout)
    assert (item["name"], item["size"], item["parentPath"]) == (
        local.name,
        100_000,
        "/drive/root:/cli",
    )
    assert "downloadUrl" not in up.stdout  # pre-authenticated: never printed

    copy = home(ada) / "copy.bin"
    down = graphpost("download", remote, str(copy), env=ada)
    assert down.returncode == 0, down.stderr
    assert down.stdout == f"Downloaded {remote} to {copy} (97.7 KiB).\n"
    assert digest(copy) == digest(local)

    link = graphpost("link", remote, "--scope", "anonymous", env=ada)
    assert link.returncode == 0, link.stderr
    url = link.stdout.strip()
    assert link.stdout == url + "\n" and url.startswith(graph_sandbox.info["portal_url"])
    with graph_sandbox.client() as http:
        assert http.get(url).content == local.read_bytes()  # anyone with the link gets the file
    edit = json.loads(
        graphpost(
            "link", remote, "--type", "edit", "--scope", "organization", "--json", env=ada
        ).stdout
    )
    assert (edit["type"], edit["scope"], edit["item"]["id"]) == ("edit", "organization", item["id"])
    assert edit["url"] != url
    default = json.loads(graphpost("link", remote, "--json", env=ada).stdout)
    assert (default["type"], default["scope"]) == ("view", "organization")  # the tenant's default


def test_an_interrupted_upload_continues_where_it_stopped(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    local = random_file(home(ada), 21 * MIB)  # a session of three chunks (10 MiB each at most)
    remote = f"cli/big-{local.name}"
    # the second chunk is held on the way in; the upload is killed while it waits
    graph_sandbox.inject_fault("PUT", "^/_upload/drive/", 503, after=1, delay_ms=8000)
    since = graph_sandbox.request_log_position()
    first = subprocess.Popen(
        [*GRAPHPOST, "upload", str(local), remote], env=ada, cwd=home(ada),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not any(
            e["method"] == "PUT" and e["status"] == 202 for e in graph_sandbox.request_log(since)
        ):
            assert time.monotonic() < deadline and first.poll() is None, "no chunk went up"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == -signal.SIGKILL
    assert len(list((home(ada) / "uploads").glob("*.json"))) == 1  # the session's address, kept
    before = graph_sandbox.request_log(since)
    assert sum(e["path"].endswith("/createUploadSession") for e in before) == 1

    resumed_from = graph_sandbox.request_log_position()
    again = graphpost("upload", str(local), remote, env=ada)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"Uploaded {local} to {remote} (21.0 MiB).\n"
    after = [e for e in graph_sandbox.request_log(resumed_from) if e["status"] != 503]
    assert not any(e["path"].endswith("/createUploadSession") for e in after)
    chunks = [e for e in after if e["path"].startswith("/_upload/drive/")]
    # asked the session where it stood, then sent only the two chunks it did not have
    assert [(e["method"], e["status"]) for e in chunks] == [
        ("GET", 200),
        ("PUT", 202),
        ("PUT", 201),
    ]
    assert not list((home(ada) / "uploads").glob("*.json"))

    copy = home(ada) / "big-copy.bin"
    assert graphpost("download", remote, str(copy), env=ada).returncode == 0
    assert digest(copy) == digest(local)


def test_an_interrupted_download_continues_where_it_stopped(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    local = random_file(home(ada), 12 * MIB)
    remote = f"cli/dl-{local.name}"
    assert graphpost("upload", str(local), remote, env=ada).returncode == 0
    target = home(ada) / "dl.bin"
    limit = 5 * MIB

    def small_disk() -> None:  # the disk "fills up" 5 MiB into the file
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cut = subprocess.run(
        [*GRAPHPOST, "download", remote, str(target)], env=ada, cwd=home(ada),
        capture_output=True, text=True, preexec_fn=small_disk, timeout=120,
    )  # fmt: skip
    assert cut.returncode == 1
    assert cut.stderr.splitlines() == ["graphpost: cannot write to disk: File too large"]
    part = target.with_name("dl.bin.part")
    assert part.stat().st_size == limit and not target.exists()

    since = graph_sandbox.request_log_position()
    again = graphpost("download", remote, str(target), env=ada)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        "Continuing an interrupted download (5.00 MiB here).",
        f"Downloaded {remote} to {target} (12.0 MiB).",
    ]
    assert digest(target) == digest(local) and not part.exists()
    fetched = [e for e in graph_sandbox.request_log(since) if e["path"].startswith("/_download/")]
    assert [e["status"] for e in fetched] == [206]  # only the rest, by Range


def test_missing_files_exit_1_or_2_in_one_line(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    since = graph_sandbox.request_log_position()
    gone = graphpost("link", "cli/no-such-file.txt", env=ada)
    assert gone.returncode == 1 and gone.stdout == ""
    [refused] = [e for e in graph_sandbox.request_log(since) if e["status"] == 404]
    assert gone.stderr.splitlines() == [
        "graphpost: 404 itemNotFound: The resource could not be found."
        f" (request-id: {refused['request_id']})"
    ]
    down = graphpost("download", "cli/no-such-file.txt", env=ada)
    assert down.returncode == 1 and "itemNotFound" in down.stderr
    assert len(down.stderr.splitlines()) == 1
    up = graphpost("upload", "no-such-file.txt", env=ada)
    assert (up.returncode, up.stderr) == (2, "graphpost upload: no file at no-such-file.txt\n")
    nowhere = graphpost("download", "cli/x.bin", str(home(ada) / "no" / "such" / "x.bin"), env=ada)
    assert nowhere.returncode == 2 and "no folder" in nowhere.stderr


def test_an_upload_graph_refuses_exits_1_with_its_code_and_request_id(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    local = random_file(home(ada), 1000)
    graph_sandbox.inject_fault(
        "PUT", "/content$", 507, code="quotaLimitReached", message="Insufficient Storage"
    )
    since = graph_sandbox.request_log_position()
    run = graphpost("upload", str(local), env=ada)
    assert run.returncode == 1 and run.stdout == ""
    [refused] = [e for e in graph_sandbox.request_log(since) if e["status"] == 507]
    assert run.stderr.splitlines() == [
        f"graphpost: 507 quotaLimitReached: Insufficient Storage (request-id: {refused['request_id']})"
    ]


def test_a_progress_bar_on_a_terminal_in_colour_unless_no_color_and_none_elsewhere(
    ada: dict[str, str],
) -> None:
    local = random_file(home(ada), 11 * MIB)
    code, screen = in_terminal("upload", str(local), "cli/", env=ada)
    assert code == 0, screen
    assert "uploading" in screen and "━" in screen and "100%" in screen
    assert colours(screen)  # the bar and the numbers in colour

    code, plain = in_terminal("upload", str(local), "cli/", env={**ada, "NO_COLOR": "1"})
    assert code == 0, plain
    assert "━" in plain and "100%" in plain
    assert colours(plain) == []

    piped = graphpost("upload", str(local), "cli/", env=ada)
    assert piped.returncode == 0
    assert piped.stdout == f"Uploaded {local} to cli/{local.name} (11.0 MiB).\n"
    assert "\x1b" not in piped.stdout + piped.stderr
