"""send_many against Outlook's limit: 1,000 mails with the sandbox at --latency-ms 100, where the
limit of 4 requests at once per app and mailbox allows 40 a second. graphpost's send_many (sync and
async) against the sample's one-by-one loop and msgraph-sdk with asyncio.gather; each mail is
counted in the recipient's inbox: share of the limit, lost, duplicated. Goal: at least 90% of the
limit, nothing lost, nothing doubled. A raw loop of 4 keep-alive connections shows what the
sandbox itself allows on this machine (its own service time comes on top of the 100 ms).

    .venv/bin/python -m benchmarks.send_many [--mails 1000] [--sequential 200]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from benchmarks.support import sandbox, subjects
from graphpost import AsyncGraph, Graph
from graphpost.core.mail import OutgoingMail
from graphpost.sandbox.process import RunningSandbox

LATENCY_MS = 100
LIMIT = 4 * 1000 / LATENCY_MS  # mails a second: 4 at once, each taking the service time


def ours_sync(running: RunningSandbox, sender: str, to: str, names: list[str]) -> int:
    with Graph(running.app_token(), graph_url=running.graph_url, verify=running.ca_file) as graph:
        outcomes = graph.send_many(OutgoingMail(n, "benchmark", to, user=sender) for n in names)
    return sum(1 for o in outcomes if not o.ok)


def ours_async(running: RunningSandbox, sender: str, to: str, names: list[str]) -> int:
    async def go() -> int:
        async with AsyncGraph(
            running.app_token(), graph_url=running.graph_url, verify=running.ca_file
        ) as graph:
            outcomes = await graph.send_many(
                OutgoingMail(n, "benchmark", to, user=sender) for n in names
            )
        return sum(1 for o in outcomes if not o.ok)

    return asyncio.run(go())


def plain_mail(subject: str, to: str) -> dict[str, Any]:
    """The sendMail body the hand-written rivals post."""
    return {
        "message": {
            "subject": subject,
            "body": {"contentType": "Text", "content": "benchmark"},
            "toRecipients": [{"emailAddress": {"address": to}}],
        }
    }


def raw_best(running: RunningSandbox, sender: str, to: str, names: list[str]) -> int:
    """No library: 4 keep-alive connections posting sendMail back to back, the most any client
    gets from this server at Outlook's 4 at once (its own service time included)."""
    import threading

    token = running.app_token()
    trust = ssl.create_default_context(cafile=running.ca_file)
    failed = [0] * 4

    def work(slot: int) -> None:
        with httpx.Client(verify=trust, timeout=30) as http:
            for name in names[slot::4]:
                answer = http.post(
                    f"{running.graph_url}/users/{sender}/sendMail",
                    headers={"Authorization": f"Bearer {token}"},
                    json=plain_mail(name, to),
                )
                failed[slot] += answer.status_code != 202

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(failed)


def sample_loop(running: RunningSandbox, sender: str, to: str, names: list[str]) -> int:
    """The sample's way: one sendMail after the other, as the signed-in user, no retries."""
    failed = 0
    token = running.user_token(sender)
    with httpx.Client(
        verify=ssl.create_default_context(cafile=running.ca_file), timeout=30
    ) as http:
        for name in names:
            answer = http.post(
                f"{running.graph_url}/me/sendMail",
                headers={"Authorization": f"Bearer {token}"},
                json=plain_mail(name, to),
            )
            failed += answer.status_code != 202
    return failed


def sdk_gather(running: RunningSandbox, sender: str, to: str, names: list[str]) -> int:
    """msgraph-sdk as its users write a bulk send: every sendMail at once with asyncio.gather."""
    from azure.identity.aio import ClientSecretCredential
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.models.email_address import EmailAddress
    from msgraph.generated.models.item_body import ItemBody
    from msgraph.generated.models.message import Message
    from msgraph.generated.models.recipient import Recipient
    from msgraph.generated.users.item.send_mail.send_mail_post_request_body import (
        SendMailPostRequestBody,
    )
    from msgraph.graph_request_adapter import options
    from msgraph_core import GraphClientFactory

    async def go() -> int:
        daemon = running.info["daemon_app"]
        credential = ClientSecretCredential(
            running.info["tenant_id"],
            daemon["client_id"],
            daemon["client_secret"],
            authority=running.authority.rsplit("/", 1)[0],
            disable_instance_discovery=True,
            connection_verify=running.ca_file,
        )
        auth = AzureIdentityAuthenticationProvider(
            credential, scopes=["https://graph.microsoft.com/.default"], allowed_hosts=["127.0.0.1"]
        )
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=running.ca_file)),
            options=options,
        )
        adapter = GraphRequestAdapter(auth, http)
        adapter.base_url = running.graph_url
        client = GraphServiceClient(request_adapter=adapter)

        async def one(name: str) -> bool:
            try:
                await client.users.by_user_id(sender).send_mail.post(
                    SendMailPostRequestBody(
                        message=Message(
                            subject=name,
                            body=ItemBody(content="benchmark"),
                            to_recipients=[Recipient(email_address=EmailAddress(address=to))],
                        ),
                        save_to_sent_items=True,
                    )
                )
                return True
            except Exception:  # what the SDK raises after its retries: the mail is not sent
                return False

        done = await asyncio.gather(*(one(n) for n in names))
        await credential.close()
        return sum(1 for ok in done if not ok)

    return asyncio.run(go())


def measure(
    label: str,
    run: Callable[[RunningSandbox, str, str, list[str]], int],
    running: RunningSandbox,
    sender: dict[str, Any],
    recipient: dict[str, Any],
    count: int,
) -> str:
    tag = f"bench-{uuid.uuid4().hex[:6]}"
    names = [f"{tag} {n:04d}" for n in range(count)]
    sender_id = sender["userPrincipalName"].split("@")[0] if run is sample_loop else sender["id"]
    began = time.perf_counter()
    errors = run(running, sender_id, recipient["mail"], names)
    seconds = time.perf_counter() - began
    arrived = collections.Counter(subjects(running, recipient["id"], "inbox", tag))
    delivered = sum(1 for n in names if arrived[n])
    doubled = sum(count - 1 for count in arrived.values() if count > 1)
    rate = delivered / seconds
    return (
        f"  {label:<30} {count:5d} mails {seconds:7.1f} s {rate:6.1f}/s"
        f"  {rate / LIMIT:5.0%} of the limit  lost {count - delivered:4d}"
        f"  doubled {doubled:3d}  errors reported {errors:4d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--sequential", type=int, default=200, help="mails for the one-by-one loop")
    args = parser.parse_args()
    with sandbox("--latency-ms", str(LATENCY_MS)) as running:
        ada, grace, katherine, alan = (
            running.user(n) for n in ("ada", "grace", "katherine", "alan")
        )
        print(
            f"send_many at --latency-ms {LATENCY_MS}: the limit is {LIMIT:.0f} mails/s per mailbox"
        )
        # each sender its own mailbox, so that no run inherits another's throttling
        print(
            measure("raw httpx, 4 connections (best)", raw_best, running, grace, alan, args.mails)
        )
        print(measure("graphpost Graph.send_many", ours_sync, running, ada, alan, args.mails))
        print(
            measure(
                "graphpost AsyncGraph.send_many", ours_async, running, katherine, alan, args.mails
            )
        )
        print(
            measure(
                "the sample's one-by-one loop", sample_loop, running, grace, alan, args.sequential
            )
        )
        print(measure("msgraph-sdk + asyncio.gather", sdk_gather, running, ada, alan, args.mails))


if __name__ == "__main__":
    main()
