"""Crash safety: a 2xx means the data is on disk, even if the sandbox is killed right after."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx

from graphpost.sandbox.process import RunningSandbox, start_sandbox

WORKERS = 4
TRAFFIC_SECONDS = 2.0


def test_everything_acknowledged_survives_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "sandbox"
    sandbox = start_sandbox(data, "--userrealm-port", "0")
    token = sandbox.user_token("ada")
    grace = sandbox.user("grace")
    sent: list[str] = []
    uploaded: dict[str, str] = {}
    stop = threading.Event()
    lock = threading.Lock()

    def traffic(worker: int) -> None:
        with sandbox.client(headers={"Authorization": f"Bearer {token}"}) as http:
            number = 0
            while not stop.is_set():
                number += 1
                tag = f"{worker}-{number}-{uuid.uuid4().hex[:6]}"
                try:
                    if number % 2:
                        answer = http.post(
                            f"{sandbox.graph_url}/me/sendMail",
                            json={
                                "message": {
                                    "subject": f"crash {tag}",
                                    "toRecipients": [{"emailAddress": {"address": grace["mail"]}}],
                                }
                            },
                        )
                        if answer.status_code == 202:
                            with lock:
                                sent.append(f"crash {tag}")
                    else:
                        content = os.urandom(64 * 1024)
                        answer = http.put(
                            f"{sandbox.graph_url}/me/drive/root:/crash/{tag}.bin:/content",
                            content=content,
                        )
                        if answer.status_code == 201:
                            with lock:
                                uploaded[f"{tag}.bin"] = hashlib.sha256(content).hexdigest()
                except httpx.HTTPError:
                    return  # the sandbox is gone: whatever was not acknowledged may be lost

    threads = [threading.Thread(target=traffic, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    time.sleep(TRAFFIC_SECONDS)
    sandbox.process.send_signal(signal.SIGKILL)  # mid-stream, no chance to flush anything
    sandbox.process.wait()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(sent) > 5 and len(uploaded) > 5, "the stream ran before the kill"

    again: RunningSandbox = start_sandbox(data, "--userrealm-port", "0")
    ada_id = again.user("ada")["id"]
    try:
        with again.client(headers={"Authorization": f"Bearer {again.app_token()}"}) as http:

            def subjects(owner: str, folder: str) -> set[str]:
                found: set[str] = set()
                url: str | None = (
                    f"{again.graph_url}/users/{owner}/mailFolders/{folder}/messages"
                    "?$top=1000&$select=subject"
                )
                while url:
                    page = http.get(url).json()
                    found.update(m["subject"] for m in page["value"])
                    url = page.get("@odata.nextLink")
                return found

            # delivered to the recipient and kept in the sender's Sent Items, both
            delivered, kept = subjects(grace["id"], "inbox"), subjects(ada_id, "sentitems")
            missing_mail = [s for s in sent if s not in delivered or s not in kept]
            missing_files = []
            for name, digest in uploaded.items():
                # the bytes themselves, not only what the metadata says of them
                answer = http.get(
                    f"{again.graph_url}/users/{ada_id}/drive/root:/crash/{name}:/content",
                    follow_redirects=True,
                )
                if (
                    answer.status_code != 200
                    or hashlib.sha256(answer.content).hexdigest() != digest
                ):
                    missing_files.append(name)
        assert missing_mail == [] and missing_files == []
    finally:
        again.stop()
