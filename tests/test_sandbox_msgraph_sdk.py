"""Microsoft's Graph SDK for Python (msgraph-sdk with azure-identity) against the sandbox, unchanged:
only its documented options are set (base URL, allowed hosts, TLS trust, authority)."""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from azure.core.credentials import AccessToken
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.drives.item.items.item.create_link.create_link_post_request_body import (
    CreateLinkPostRequestBody,
)
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.messages.messages_request_builder import (
    MessagesRequestBuilder,
)
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import (
    SendMailPostRequestBody,
)
from msgraph.graph_request_adapter import options as sdk_options
from msgraph_core import GraphClientFactory
from msgraph_core.tasks.page_iterator import PageIterator

from graphpost.sandbox.process import RunningSandbox

T = TypeVar("T")


class SandboxUserToken:
    """A delegated token the sandbox issued, as an (async) azure-core credential."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3000)

    async def close(self) -> None:
        return None


def graph_client(sandbox: RunningSandbox, credential: Any) -> GraphServiceClient:
    host = urlsplit(sandbox.graph_url).hostname or ""
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=["https://graph.microsoft.com/.default"], allowed_hosts=[host]
    )
    # the SDK's own middleware options (its /me rewrite among them), with a client trusting the sandbox
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=sandbox.ca_file)),
        options=sdk_options,
    )
    adapter = GraphRequestAdapter(auth, http)
    adapter.base_url = sandbox.graph_url
    return GraphServiceClient(request_adapter=adapter)


def app_credential(sandbox: RunningSandbox) -> ClientSecretCredential:
    daemon = sandbox.info["daemon_app"]
    return ClientSecretCredential(
        sandbox.info["tenant_id"],
        daemon["client_id"],
        daemon["client_secret"],
        authority=sandbox.authority.rsplit("/", 1)[0],
        disable_instance_discovery=True,
        connection_verify=sandbox.ca_file,
    )


def run(coroutine: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coroutine())  # type: ignore[arg-type]


def test_users_and_me(graph_sandbox: RunningSandbox) -> None:
    grace = graph_sandbox.user("grace")

    async def scenario() -> tuple[Any, Any]:
        app = graph_client(graph_sandbox, app_credential(graph_sandbox))
        person = graph_client(graph_sandbox, SandboxUserToken(graph_sandbox.user_token("ada")))
        return await app.users.by_user_id(grace["id"]).get(), await person.me.get()

    user, me = run(scenario)
    assert (user.display_name, user.mail) == ("Grace Hopper", grace["mail"])
    assert me.user_principal_name == "ada@graphpost.test"


def test_send_mail_paging_and_attachments(graph_sandbox: RunningSandbox) -> None:
    ada, katherine = graph_sandbox.user("ada"), graph_sandbox.user("katherine")
    tag = uuid.uuid4().hex[:8]
    payload = b"attached by the SDK"

    async def scenario() -> tuple[list[str], list[bytes]]:
        app = graph_client(graph_sandbox, app_credential(graph_sandbox))
        for number in range(5):
            attachments = []
            if number == 0:
                attachments = [
                    FileAttachment(
                        odata_type="#microsoft.graph.fileAttachment",
                        name="note.txt",
                        content_type="text/plain",
                        content_bytes=payload,
                    )
                ]
            await app.users.by_user_id(ada["id"]).send_mail.post(
                SendMailPostRequestBody(
                    message=Message(
                        subject=f"sdk {tag} {number}",
                        body=ItemBody(content_type=BodyType.Text, content="from msgraph-sdk"),
                        to_recipients=[
                            Recipient(email_address=EmailAddress(address=katherine["mail"]))
                        ],
                        attachments=attachments,
                    ),
                    save_to_sent_items=True,
                )
            )
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(top=2)
        config = RequestConfiguration(query_parameters=query)
        first = await app.users.by_user_id(katherine["id"]).messages.get(
            request_configuration=config
        )
        subjects: list[str] = []

        def collect(message: Message) -> bool:
            subjects.append(str(message.subject))
            return True

        iterator = PageIterator(first, app.request_adapter)
        await iterator.iterate(collect)
        mine = [s for s in subjects if tag in s]
        found = next(s for s in mine if s.endswith(" 0"))
        message_id = None
        for page_message in (
            await app.users.by_user_id(katherine["id"]).messages.get()
        ).value or []:
            if page_message.subject == found:
                message_id = page_message.id
        assert message_id
        listed = (
            await app.users.by_user_id(katherine["id"])
            .messages.by_message_id(message_id)
            .attachments.get()
        )
        contents = [a.content_bytes for a in listed.value or []]
        return mine, contents

    mine, contents = run(scenario)
    assert mine == [f"sdk {tag} {n}" for n in reversed(range(5))]  # every page, newest first
    assert [base64.b64decode(c) if isinstance(c, str) else c for c in contents] == [payload]


def test_drive_upload_and_sharing_link(graph_sandbox: RunningSandbox) -> None:
    ada = graph_sandbox.user("ada")
    name = f"sdk-{uuid.uuid4().hex[:8]}.txt"

    async def scenario() -> tuple[Any, Any, Any]:
        app = graph_client(graph_sandbox, app_credential(graph_sandbox))
        drive = await app.users.by_user_id(ada["id"]).drive.get()
        items = app.drives.by_drive_id(drive.id).items
        uploaded = await items.by_drive_item_id(f"root:/sdk/{name}:").content.put(b"from the SDK")
        link = await items.by_drive_item_id(uploaded.id).create_link.post(
            CreateLinkPostRequestBody(type="view", scope="anonymous")
        )
        again = await items.by_drive_item_id(uploaded.id).create_link.post(
            CreateLinkPostRequestBody(type="view", scope="anonymous")
        )
        return uploaded, link, again

    uploaded, link, again = run(scenario)
    assert uploaded.name == name and uploaded.size == len(b"from the SDK")
    assert link.link.type == "view" and link.link.web_url == again.link.web_url
    with graph_sandbox.client() as http:
        assert http.get(link.link.web_url).content == b"from the SDK"
