"""The sandbox's $batch and open extensions, with plain httpx."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from graphpost.sandbox.process import RunningSandbox


def call(sandbox: RunningSandbox, token: str, method: str, path: str, **kwargs: Any) -> Any:
    with sandbox.client() as http:
        return http.request(
            method,
            f"{sandbox.graph_url}/{path.lstrip('/')}",
            headers={"Authorization": f"Bearer {token}"},
            **kwargs,
        )


def batch(sandbox: RunningSandbox, token: str, requests: list[dict[str, Any]]) -> Any:
    return call(sandbox, token, "POST", "$batch", json={"requests": requests})


def by_id(answer: Any) -> dict[str, dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    return {item["id"]: item for item in answer.json()["responses"]}


# $batch


def test_batch_runs_each_request_as_graph_would(graph_sandbox: RunningSandbox) -> None:
    token = graph_sandbox.user_token("ada")
    grace = graph_sandbox.user("grace")
    subject = f"batched {uuid.uuid4().hex[:8]}"
    png = call(graph_sandbox, token, "GET", "me/photo/$value").content
    answers = by_id(
        batch(
            graph_sandbox,
            token,
            [
                {"id": "1", "method": "GET", "url": "/me?$select=displayName"},
                {"id": "2", "method": "GET", "url": "me/photo/$value"},
                {
                    "id": "3",
                    "method": "POST",
                    "url": "/me/sendMail",
                    "headers": {"Content-Type": "application/json"},
                    "body": {
                        "message": {
                            "subject": subject,
                            "toRecipients": [{"emailAddress": {"address": grace["mail"]}}],
                        }
                    },
                },
                {
                    "id": "4",
                    "method": "PUT",
                    "url": f"/me/drive/root:/batch-{subject[-8:]}.png:/content",
                    "headers": {"Content-Type": "image/png"},
                    "body": base64.b64encode(png).decode(),  # binary bodies travel as base64
                },
                {"id": "5", "method": "GET", "url": "/users/nobody@graphpost.test"},
            ],
        )
    )
    assert answers["1"]["status"] == 200 and answers["1"]["body"]["displayName"] == "Ada Lovelace"
    assert answers["2"]["status"] == 200 and base64.b64decode(answers["2"]["body"]) == png
    assert answers["3"]["status"] == 202 and "body" not in answers["3"]
    assert answers["4"]["status"] == 201 and answers["4"]["body"]["size"] == len(png)
    assert answers["5"]["status"] == 404
    assert answers["5"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert all(answers[i]["headers"].get("request-id") for i in "1234")


def test_depends_on_orders_requests_and_a_failed_dependency_fails_its_dependants(
    graph_sandbox: RunningSandbox,
) -> None:
    token = graph_sandbox.user_token("ada")
    name = f"chain-{uuid.uuid4().hex[:8]}.txt"
    answers = by_id(
        batch(
            graph_sandbox,
            token,
            [
                {
                    "id": "upload",
                    "method": "PUT",
                    "url": f"/me/drive/root:/{name}:/content",
                    "headers": {"Content-Type": "text/plain"},
                    "body": "hello",
                },
                {
                    "id": "read",
                    "method": "GET",
                    "url": f"/me/drive/root:/{name}",
                    "dependsOn": ["upload"],
                },
                {"id": "broken", "method": "GET", "url": "/me/drive/items/NOPE"},
                {"id": "after-broken", "method": "GET", "url": "/me", "dependsOn": ["broken"]},
                {"id": "after-that", "method": "GET", "url": "/me", "dependsOn": ["after-broken"]},
            ],
        )
    )
    assert answers["upload"]["status"] == 201 and answers["read"]["status"] == 200
    assert answers["read"]["body"]["size"] == 5
    assert answers["broken"]["status"] == 404
    assert answers["after-broken"]["status"] == 424 and answers["after-that"]["status"] == 424


def test_per_item_throttling_answer_carries_retry_after(graph_sandbox: RunningSandbox) -> None:
    token = graph_sandbox.user_token("ada")
    graph_sandbox.inject_fault("GET", r"/v1\.0/me/mailFolders/inbox/messages$", 429, retry_after=3)
    answers = by_id(
        batch(
            graph_sandbox,
            token,
            [
                {"id": "a", "method": "GET", "url": "/me/mailFolders/inbox/messages"},
                {"id": "b", "method": "GET", "url": "/me", "dependsOn": ["a"]},
            ],
        )
    )
    assert answers["a"]["status"] == 429 and answers["a"]["headers"]["Retry-After"] == "3"
    assert answers["a"]["body"]["error"]["code"] == "TooManyRequests"
    assert answers["b"]["status"] == 424


def test_a_batch_of_twenty(graph_sandbox: RunningSandbox) -> None:
    requests = [{"id": str(n), "method": "GET", "url": "/me?$select=id"} for n in range(20)]
    answers = by_id(batch(graph_sandbox, graph_sandbox.user_token("grace"), requests))
    assert sorted(answers, key=int) == [str(n) for n in range(20)]
    assert {item["status"] for item in answers.values()} == {200}


@pytest.mark.parametrize(
    "requests",
    [
        [],
        [{"id": str(n), "method": "GET", "url": "/me"} for n in range(21)],
        [{"id": "x", "method": "GET", "url": "/me"}, {"id": "X", "method": "GET", "url": "/me"}],
        [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/me"}],
        [
            {"id": "1", "method": "POST", "url": "/me/sendMail", "body": {"message": {}}}
        ],  # no Content-Type
        [{"id": "1", "method": "GET", "url": "/me", "dependsOn": ["2"]}],
        [
            {"id": "1", "method": "GET", "url": "/me", "dependsOn": ["2"]},
            {"id": "2", "method": "GET", "url": "/me", "dependsOn": ["1"]},
        ],
        [{"id": "1", "method": "TRACE", "url": "/me"}],
        [
            {
                "id": "1",
                "method": "POST",
                "url": "/$batch",
                "headers": {"Content-Type": "application/json"},
                "body": {"requests": []},
            }
        ],
    ],
)
def test_malformed_batches_are_one_400(graph_sandbox: RunningSandbox, requests: list[Any]) -> None:
    answer = batch(graph_sandbox, graph_sandbox.user_token("ada"), requests)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "BadRequest"


# open extensions


def test_open_extensions_on_a_user(graph_sandbox: RunningSandbox) -> None:
    token = graph_sandbox.user_token("katherine", scopes="User.ReadWrite")
    name = f"com.graphpost.test{uuid.uuid4().hex[:6]}"
    created = call(
        graph_sandbox,
        token,
        "POST",
        "me/extensions",
        json={
            "@odata.type": "microsoft.graph.openTypeExtension",
            "extensionName": name,
            "theme": "dark",
            "recipients": ["a@b.c"],
        },
    )
    assert created.status_code == 201
    assert created.json()["id"] == name and created.json()["theme"] == "dark"
    again = call(
        graph_sandbox,
        token,
        "POST",
        "me/extensions",
        json={"@odata.type": "microsoft.graph.openTypeExtension", "extensionName": name},
    )
    assert again.status_code == 409
    # PATCH on a directory resource: 204, and it replaces (unsent properties go)
    patched = call(graph_sandbox, token, "PATCH", f"me/extensions/{name}", json={"colour": "teal"})
    assert patched.status_code == 204 and patched.content == b""
    me = call(graph_sandbox, token, "GET", "me", params={"$expand": "extensions"}).json()
    mine = [e for e in me["extensions"] if e["extensionName"] == name]
    assert mine == [
        {
            "@odata.type": "#microsoft.graph.openTypeExtension",
            "extensionName": name,
            "id": name,
            "colour": "teal",
        }
    ]
    only = call(
        graph_sandbox,
        token,
        "GET",
        "me",
        params={"$expand": f"extensions($filter=id eq '{name}')"},
    ).json()["extensions"]
    assert [e["id"] for e in only] == [name]
    too_big = call(
        graph_sandbox, token, "PATCH", f"me/extensions/{name}", json={"notes": "x" * 3000}
    )
    assert too_big.status_code == 400
    assert call(graph_sandbox, token, "DELETE", f"me/extensions/{name}").status_code == 204
    assert call(graph_sandbox, token, "GET", f"me/extensions/{name}").status_code == 404
    assert call(graph_sandbox, token, "GET", "me", params={"$expand": "manager"}).status_code == 400


def test_open_extensions_on_a_message(graph_sandbox: RunningSandbox) -> None:
    token = graph_sandbox.user_token("ada")
    subject = f"extended {uuid.uuid4().hex[:8]}"
    call(
        graph_sandbox,
        token,
        "POST",
        "me/sendMail",
        json={
            "message": {
                "subject": subject,
                "toRecipients": [{"emailAddress": {"address": "ada@graphpost.test"}}],
            }
        },
    ).raise_for_status()
    messages = call(
        graph_sandbox, token, "GET", "me/mailFolders/inbox/messages", params={"$top": "50"}
    ).json()["value"]
    message_id = next(m["id"] for m in messages if m["subject"] == subject)
    created = call(
        graph_sandbox,
        token,
        "POST",
        f"me/messages/{message_id}/extensions",
        json={
            "@odata.type": "#microsoft.graph.openTypeExtension",
            "extensionName": "Com.Graphpost.Referral",
            "companyName": "Wingtip",
        },
    )
    assert created.status_code == 201
    full_id = "Microsoft.OutlookServices.OpenTypeExtension.Com.Graphpost.Referral"
    assert created.json()["id"] == full_id  # Outlook's id, not the bare name
    # PATCH on an Outlook resource: 200 with the extension; both id forms address it
    patched = call(
        graph_sandbox,
        token,
        "PATCH",
        f"me/messages/{message_id}/extensions/{full_id}",
        json={"companyName": "Contoso"},
    )
    assert patched.status_code == 200 and patched.json()["companyName"] == "Contoso"
    assert (
        call(
            graph_sandbox,
            token,
            "GET",
            f"me/messages/{message_id}/extensions/Com.Graphpost.Referral",
        ).json()["companyName"]
        == "Contoso"
    )
    assert (
        call(graph_sandbox, token, "GET", "me/messages/AAMkNOPE/extensions").json()["error"]["code"]
        == "ErrorItemNotFound"
    )
    # $expand=extensions on the message, all of them or one by id as Graph's docs filter it
    second = {"@odata.type": "microsoft.graph.openTypeExtension", "extensionName": "Com.Other"}
    call(graph_sandbox, token, "POST", f"me/messages/{message_id}/extensions", json=second)

    def expanded(expand: str, path: str = f"me/messages/{message_id}", **query: str) -> Any:
        # httpx replaces a URL's query with `params`: every option goes in params
        params = {"$expand": expand} | {f"${name}": value for name, value in query.items()}
        answer = call(graph_sandbox, token, "GET", path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    every = expanded("extensions")
    assert [e["extensionName"] for e in every["extensions"]] == [
        "Com.Graphpost.Referral",
        "Com.Other",
    ]
    assert every["extensions@odata.context"].endswith("/extensions")
    one = expanded(f"extensions($filter=id eq '{full_id}')")["extensions"]
    assert [(e["id"], e["companyName"]) for e in one] == [(full_id, "Contoso")]
    listed = expanded(
        "extensions($filter=id eq 'Com.Other')",
        "me/mailFolders/inbox/messages",
        filter=f"subject eq '{subject}'",
    )["value"]
    assert [[e["extensionName"] for e in m["extensions"]] for m in listed] == [["Com.Other"]]
    assert "extensions" not in call(graph_sandbox, token, "GET", f"me/messages/{message_id}").json()
    refused = call(
        graph_sandbox, token, "GET", f"me/messages/{message_id}", params={"$expand": "colour"}
    )
    assert (
        refused.status_code == 400 and refused.json()["error"]["code"] == "RequestBroker--ParseUri"
    )


def test_expanding_a_messages_single_value_extended_property(graph_sandbox: RunningSandbox) -> None:
    token = graph_sandbox.user_token("ada")
    tag = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Tag"
    draft = call(
        graph_sandbox,
        token,
        "POST",
        "me/messages",
        json={
            "subject": f"tagged {uuid.uuid4().hex[:8]}",
            "singleValueExtendedProperties": [{"id": tag, "value": "blue"}],
        },
    ).json()
    assert "singleValueExtendedProperties" not in draft  # never shown unasked
    expand = f"singleValueExtendedProperties($filter=id eq '{tag}'),extensions"
    got = call(
        graph_sandbox, token, "GET", f"me/messages/{draft['id']}", params={"$expand": expand}
    )
    assert got.json()["singleValueExtendedProperties"] == [{"id": tag, "value": "blue"}]
    assert got.json()["extensions"] == []
    other = "singleValueExtendedProperties($filter=id eq 'String 0x0037')"
    got = call(graph_sandbox, token, "GET", f"me/messages/{draft['id']}", params={"$expand": other})
    assert got.json()["singleValueExtendedProperties"] == []
