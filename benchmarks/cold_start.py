"""Cold start, as a cron job or a serverless function meets it: a fresh process imports the library,
gets an app token from the sandbox's Entra ID and sends one mail; graphpost against the same program
on msgraph-sdk + azure-identity (same sandbox, same app registration). Each runs in a fresh venv
holding only what it installed (see installed_size.py). Wall time and peak RSS, median of
alternating runs. Goal: under half of the SDK's on both.

    .venv/bin/python -m benchmarks.cold_start [--runs 7]
"""

from __future__ import annotations

import argparse

from benchmarks.installed_size import build, python_of, with_current_graphpost
from benchmarks.support import median, ratio_line, run_python, sandbox, sent_count

OURS = """
import sys
from graphpost import Graph

with Graph.from_env() as graph:
    graph.send_mail("cold start", "one mail", sys.argv[1], user=sys.argv[2])
"""

# what any program that signs in with MSAL and talks over httpx loads before doing anything (msal
# imports requests, urllib3 and charset_normalizer even when it never uses them): the memory floor
FLOOR = """
import httpx, httpcore, msal
"""

# the same program on Microsoft's SDK, pointed at the sandbox with its documented options only
SDK = """
import asyncio, json, ssl, sys
import httpx
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


async def main() -> None:
    info = json.load(open(sys.argv[3]))
    daemon = info["daemon_app"]
    credential = ClientSecretCredential(
        info["tenant_id"], daemon["client_id"], daemon["client_secret"],
        authority=info["authority"].rsplit("/", 1)[0], disable_instance_discovery=True,
        connection_verify=info["ca_file"],
    )
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=["https://graph.microsoft.com/.default"], allowed_hosts=["127.0.0.1"]
    )
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=info["ca_file"])),
        options=options,
    )
    adapter = GraphRequestAdapter(auth, http)
    adapter.base_url = info["graph_url"]
    client = GraphServiceClient(request_adapter=adapter)
    await client.users.by_user_id(sys.argv[2]).send_mail.post(
        SendMailPostRequestBody(
            message=Message(
                subject="cold start",
                body=ItemBody(content="one mail"),
                to_recipients=[Recipient(email_address=EmailAddress(address=sys.argv[1]))],
            ),
            save_to_sent_items=True,
        )
    )
    await credential.close()

asyncio.run(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with sandbox() as running:
        to = running.user("grace")["mail"]
        sender = running.user("ada")["id"]
        info = str(running.data_dir / "sandbox.json")
        env = {"GRAPHPOST_SANDBOX": str(running.data_dir), "GRAPHPOST_HOME": str(running.data_dir)}
        ours_python = with_current_graphpost()
        build("sdk")
        ours, theirs, floor = [], [], []
        for _ in range(args.runs):  # alternating, so that neither gets a warmer machine
            ours.append(run_python(OURS, to, sender, env=env, python=ours_python))
            theirs.append(run_python(SDK, to, sender, info, python=python_of("sdk")))
            floor.append(run_python(FLOOR, python=ours_python))
        sent = sent_count(running, sender, "cold start")
    print(f"cold start: fresh process, app token, one sendMail; median of {args.runs} runs each")
    wall_ms = [median([r.seconds for r in runs]) * 1000 for runs in (ours, theirs)]
    peak_mib = [median([r.peak_mib for r in runs]) for runs in (ours, floor, theirs)]
    print(ratio_line("wall time", wall_ms[0], wall_ms[1], "ms", "< 0.50"))
    print(ratio_line("peak RSS", peak_mib[0], peak_mib[2], "MiB", "< 0.50"))
    print(ratio_line("peak RSS of import httpx, msal", peak_mib[1], peak_mib[2], "MiB"))
    print(f"  mails in the sender's Sent Items: {sent} (expected {2 * args.runs})")


if __name__ == "__main__":
    main()
