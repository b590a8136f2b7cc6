"""The sandbox's Graph side with plain `requests`, the way the original sample's code talks to Graph."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import msal
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from graphpost.sandbox.process import RunningSandbox
from tests.support import person

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GRAPH_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Caller:
    """A requests session for one token, like the sample's helpers."""

    def __init__(self, sandbox: RunningSandbox, token: str) -> None:
        self.base = sandbox.graph_url
        self.session = requests.Session()
        self.session.verify = sandbox.ca_file
        self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("https://") else f"{self.base}/{path.lstrip('/')}"
        return self.session.request(method, url, timeout=30, **kwargs)


@pytest.fixture
def ada(graph_sandbox: RunningSandbox) -> Iterator[Caller]:
    caller = Caller(graph_sandbox, graph_sandbox.user_token("ada"))
    yield caller
    caller.session.close()


@pytest.fixture
def app(graph_sandbox: RunningSandbox) -> Caller:
    return Caller(graph_sandbox, graph_sandbox.app_token())


def graph_error(answer: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Graph's error body and headers, checked; returns the error object."""
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code and error["message"]
    inner = error["innerError"]
    assert GRAPH_DATE.match(inner["date"])  # no fraction, no Z
    assert inner["request-id"] == answer.headers["request-id"]
    assert inner["client-request-id"] == answer.headers["client-request-id"]
    return error


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def messages_with(caller: Caller, user: str, folder: str, subject: str) -> list[dict[str, Any]]:
    owner = "me" if user == "me" else f"users/{user}"
    listed = caller("GET", f"{owner}/mailFolders/{folder}/messages", params={"$top": "200"})
    listed.raise_for_status()
    return [m for m in listed.json()["value"] if m["subject"] == subject]


# users and photos


def test_me_and_users_by_id_and_upn(
    graph_sandbox: RunningSandbox, ada: Caller, app: Caller
) -> None:
    me = ada("GET", "me")
    assert me.status_code == 200
    body = me.json()
    assert body["@odata.context"].endswith("/$metadata#users/$entity")
    assert set(body) - {"@odata.context"} == {
        "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
        "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
    }  # fmt: skip
    grace = graph_sandbox.user("grace")
    by_id = app("GET", f"users/{grace['id']}").json()
    by_upn = app("GET", f"users/{grace['userPrincipalName']}").json()
    assert by_id == by_upn and by_id["displayName"] == "Grace Hopper"
    selected = app("GET", f"users/{grace['id']}", params={"$select": "displayName,mail"}).json()
    assert selected["@odata.context"].endswith("users(displayName,mail)/$entity")
    assert set(selected) == {"@odata.context", "displayName", "mail", "id"}


def test_user_errors(graph_sandbox: RunningSandbox, app: Caller) -> None:
    error = graph_error(app("GET", "users/nobody@graphpost.test"), 404, "Request_ResourceNotFound")
    assert "nobody@graphpost.test" in error["message"]
    graph_error(app("GET", "me"), 400, "BadRequest")  # /me needs a delegated token
    grace = graph_sandbox.user("grace")
    graph_error(
        app("GET", f"users/{grace['id']}", params={"$select": "nope"}), 400, "Request_BadRequest"
    )


def test_listing_users_pages_with_skiptokens(graph_sandbox: RunningSandbox, app: Caller) -> None:
    everyone = app("GET", "users").json()
    assert everyone["@odata.context"].endswith("/$metadata#users")
    assert "@odata.nextLink" not in everyone  # 100 a page by default: one page here
    assert {u["id"] for u in everyone["value"]} == {u["id"] for u in graph_sandbox.users}
    seen: list[str] = []
    url = "users?$top=1&$select=displayName"
    while url:
        page = app("GET", url).json()
        assert len(page["value"]) == 1 and set(page["value"][0]) == {"displayName", "id"}
        assert page["@odata.context"].endswith("/$metadata#users(displayName)")
        seen += [u["id"] for u in page["value"]]
        url = page.get("@odata.nextLink", "")
        # the directory pages with an opaque $skiptoken, every other option kept
        assert not url or ("$skiptoken=" in url and "$top=1" in url and "$select=" in url)
    assert seen == [u["id"] for u in everyone["value"]]
    assert len(app("GET", "users", params={"$top": "999"}).json()["value"]) == len(seen)
    for bad in ("0", "1000", "-1", "ten"):
        error = graph_error(app("GET", "users", params={"$top": bad}), 400, "Request_BadRequest")
        assert error["message"] == (
            f"Invalid page size specified: '{bad}'. Must be between 1 and 999 inclusive."
        )
    graph_error(app("GET", "users", params={"$skip": "1"}), 400, "Request_BadRequest")
    graph_error(app("GET", "users", params={"$skiptoken": "%%%"}), 400, "Request_BadRequest")


def test_user_read_alone_cannot_read_other_users(graph_sandbox: RunningSandbox) -> None:
    katherine, grace = graph_sandbox.user("katherine"), graph_sandbox.user("grace")
    web = graph_sandbox.info["web_app"]
    app = msal.ConfidentialClientApplication(
        web["client_id"],
        client_credential=web["client_secret"],
        authority=graph_sandbox.authority,
        instance_discovery=False,
        verify=graph_sandbox.ca_file,
    )
    # Katherine consents to User.Read alone for the web app, so her token carries nothing more
    flow = app.initiate_auth_code_flow(
        ["User.Read"], redirect_uri="http://localhost:5000/login/authorized"
    )
    answer = person.sign_in(
        graph_sandbox, flow["auth_uri"], katherine["userPrincipalName"], katherine["password"]
    )
    token = app.acquire_token_by_auth_code_flow(flow, answer)["access_token"]
    assert "User.ReadBasic.All" not in jwt.decode(token, options={"verify_signature": False})["scp"]
    caller = Caller(graph_sandbox, token)
    assert caller("GET", "me").status_code == 200
    graph_error(caller("GET", f"users/{grace['id']}"), 403, "Authorization_RequestDenied")


def test_photo_metadata_and_value(graph_sandbox: RunningSandbox, ada: Caller) -> None:
    meta = ada("GET", "me/photo")
    assert meta.status_code == 200
    body = meta.json()
    value = ada("GET", "me/photo/$value")
    assert value.status_code == 200
    assert value.headers["Content-Type"] == body["@odata.mediaContentType"] == "image/png"
    assert value.content.startswith(b"\x89PNG") and (body["width"], body["height"]) == (240, 240)
    assert body["@odata.mediaEtag"]


def test_no_photo_is_image_not_found(graph_sandbox: RunningSandbox) -> None:
    alan = Caller(graph_sandbox, graph_sandbox.user_token("alan"))
    for path in ("me/photo", "me/photo/$value"):
        error = graph_error(alan("GET", path), 404, "ImageNotFound")
        assert "ImageNotFoundException" in error["message"]


# OneDrive


def test_upload_by_path_creates_folders_and_replaces(ada: Caller) -> None:
    folder, name = unique("reports").replace(" ", "-"), "q1.txt"
    first = ada(
        "PUT",
        f"me/drive/root:/{folder}/{name}:/content",
        data=b"one",
        headers={"Content-Type": "text/plain"},
    )
    assert first.status_code == 201
    item = first.json()
    assert (item["name"], item["size"], item["file"]["mimeType"]) == (name, 3, "text/plain")
    assert item["parentReference"]["path"] == f"/drive/root:/{folder}"
    second = ada("PUT", f"me/drive/root:/{folder}/{name}:/content", data=b"two!")
    assert (
        second.status_code == 200
        and second.json()["id"] == item["id"]
        and second.json()["size"] == 4
    )
    fail = ada(
        "PUT",
        f"me/drive/root:/{folder}/{name}:/content?@microsoft.graph.conflictBehavior=fail",
        data=b"x",
    )
    graph_error(fail, 409, "nameAlreadyExists")
    renamed = ada(
        "PUT",
        f"me/drive/root:/{folder}/{name}:/content?@microsoft.graph.conflictBehavior=rename",
        data=b"x",
    )
    assert renamed.status_code == 201 and renamed.json()["name"] == "q1 1.txt"
    assert ada("GET", f"me/drive/root:/{folder}/{name}").json()["size"] == 4


def test_the_samples_upload_form_and_sharing_links(
    graph_sandbox: RunningSandbox, ada: Caller
) -> None:
    name = unique("me").replace(" ", "-") + ".png"
    photo = ada("GET", "me/photo/$value").content
    uploaded = ada(
        "PUT",
        f"me/drive/root/children/{name}/content",
        data=photo,
        headers={"content-type": "image/png"},
    )
    assert uploaded.status_code == 201
    item_id = uploaded.json()["id"]

    links: dict[str, str] = {}
    for scope in ("anonymous", "organization"):
        created = ada(
            "POST", f"me/drive/items/{item_id}/createLink", json={"type": "view", "scope": scope}
        )
        assert created.status_code == 201
        permission = created.json()
        assert permission["link"]["type"] == "view" and permission["link"]["scope"] == scope
        assert permission["roles"] == ["read"] and permission["id"]
        again = ada(
            "POST", f"me/drive/items/{item_id}/createLink", json={"type": "view", "scope": scope}
        )
        assert (
            again.status_code == 200
            and again.json()["link"]["webUrl"] == permission["link"]["webUrl"]
        )
        links[scope] = permission["link"]["webUrl"]
    # the sample sends no scope: the tenant's default (organization) applies
    default = ada(
        "POST", f"me/drive/items/{item_id}/microsoft.graph.createLink", json={"type": "view"}
    )
    assert default.status_code == 200 and default.json()["link"]["webUrl"] == links["organization"]

    browser = requests.Session()
    browser.verify = graph_sandbox.ca_file
    opened = browser.get(links["anonymous"])
    assert opened.status_code == 200 and opened.content == photo
    assert opened.headers["Content-Type"] == "image/png"
    assert "sandbox" in opened.headers["Content-Security-Policy"]
    gated = browser.get(links["organization"])
    assert gated.status_code == 200 and gated.content != photo and "Sign in" in gated.text
    graph_error(
        ada("POST", f"me/drive/items/{item_id}/createLink", json={"type": "bogus"}),
        400,
        "invalidRequest",
    )
    graph_error(
        ada("POST", "me/drive/items/01NOPE/createLink", json={"type": "view"}), 404, "itemNotFound"
    )


# mail


def test_send_mail_exactly_as_the_sample_does(
    graph_sandbox: RunningSandbox, ada: Caller, app: Caller
) -> None:
    grace, katherine, alan = (graph_sandbox.user(n) for n in ("grace", "katherine", "alan"))
    subject = unique("sample")
    attachment = b"\x89PNG fake photo bytes"
    sent = ada(
        "POST",
        "me/microsoft.graph.sendMail",
        headers={"client-request-id": str(uuid.uuid4()), "return-client-request-id": "true"},
        json={
            "Message": {
                "Subject": subject,
                "Body": {"ContentType": "HTML", "Content": "<p>Hello <b>there</b></p>"},
                "ToRecipients": [{"EmailAddress": {"Address": grace["mail"]}}],
                "CcRecipients": [{"EmailAddress": {"Address": katherine["mail"]}}],
                "BccRecipients": [{"EmailAddress": {"Address": alan["mail"]}}],
                "Attachments": [
                    {
                        "@odata.type": "#microsoft.graph.fileAttachment",
                        "ContentBytes": base64.b64encode(attachment).decode(),
                        "ContentType": "image/png",
                        "Name": "me.png",
                    }
                ],
            },
            "SaveToSentItems": "true",
        },
    )
    assert sent.status_code == 202 and sent.content == b""
    for someone in (grace, katherine, alan):
        [arrived] = messages_with(app, someone["id"], "inbox", subject)
        assert arrived["hasAttachments"] and arrived["isRead"] is False
        bcc = [r["emailAddress"]["address"] for r in arrived["bccRecipients"]]
        assert bcc == ([alan["mail"]] if someone is alan else [])  # nobody else sees the Bcc line
        listed = app("GET", f"users/{someone['id']}/messages/{arrived['id']}/attachments").json()[
            "value"
        ]
        assert [(a["name"], base64.b64decode(a["contentBytes"])) for a in listed] == [
            ("me.png", attachment)
        ]
        assert listed[0]["@odata.type"] == "#microsoft.graph.fileAttachment"
    [copy] = messages_with(ada, "me", "sentitems", subject)
    assert copy["isRead"] is True and [
        r["emailAddress"]["address"] for r in copy["bccRecipients"]
    ] == [alan["mail"]]
    # the message as Graph returns it
    assert copy["body"]["contentType"] == "html" and copy["body"]["content"].startswith("<html>")
    assert "<b>there</b>" in copy["body"]["content"] and copy["bodyPreview"] == "Hello there"
    assert (
        copy["importance"] == "normal"
        and UTC_Z.match(copy["receivedDateTime"])
        and UTC_Z.match(copy["sentDateTime"])
    )
    assert (
        copy["from"]
        == copy["sender"]
        == {"emailAddress": {"name": "Ada Lovelace", "address": "ada@graphpost.test"}}
    )
    assert copy["toRecipients"] == [
        {"emailAddress": {"name": "Grace Hopper", "address": grace["mail"]}}
    ]


def test_save_to_sent_items_false_and_camel_case(
    graph_sandbox: RunningSandbox, ada: Caller
) -> None:
    grace = graph_sandbox.user("grace")
    for flag in (False, "False"):
        subject = unique("nocopy")
        answer = ada(
            "POST",
            "me/sendMail",
            json={
                "message": {
                    "subject": subject,
                    "toRecipients": [{"emailAddress": {"address": grace["mail"]}}],
                },
                "saveToSentItems": flag,
            },
        )
        assert answer.status_code == 202
        assert messages_with(ada, "me", "sentitems", subject) == []


def test_send_mail_errors(graph_sandbox: RunningSandbox, ada: Caller) -> None:
    error = graph_error(
        ada(
            "POST",
            "me/sendMail",
            json={"message": {"toRecipients": [{"emailAddress": {"address": "BAD_ADDRESS"}}]}},
        ),
        400,
        "ErrorInvalidRecipients",
    )
    assert 'Recipient "BAD_ADDRESS" isn\'t resolved' in error["message"]
    nobody = graph_error(
        ada("POST", "me/sendMail", json={"message": {"subject": "x"}}),
        400,
        "ErrorInvalidRecipients",
    )
    assert "contains no recipients" in nobody["message"]
    graph_error(
        ada("POST", "me/sendMail", data=b"", headers={"Content-Type": "application/json"}),
        400,
        "BadRequest",
    )
    big = {
        "message": {
            "subject": "big",
            "body": {"content": "x" * (4 * 1024 * 1024 + 10)},
            "toRecipients": [{"emailAddress": {"address": "grace@graphpost.test"}}],
        }
    }
    graph_error(ada("POST", "me/sendMail", json=big), 413, "RequestEntityTooLarge")
    # the same body chunked, its length unsaid: Graph's limit holds all the same
    encoded = json.dumps(big).encode()
    pieces = (encoded[n : n + 65536] for n in range(0, len(encoded), 65536))
    chunked = ada("POST", "me/sendMail", data=pieces, headers={"Content-Type": "application/json"})
    assert "Content-Length" not in chunked.request.headers
    graph_error(chunked, 413, "RequestEntityTooLarge")
    grace = graph_sandbox.user("grace")
    graph_error(
        ada(
            "POST",
            f"users/{grace['id']}/sendMail",
            json={"message": {"toRecipients": [{"emailAddress": {"address": grace["mail"]}}]}},
        ),
        403,
        "ErrorAccessDenied",
    )


def test_an_app_sends_as_any_user(graph_sandbox: RunningSandbox, app: Caller) -> None:
    katherine, grace = graph_sandbox.user("katherine"), graph_sandbox.user("grace")
    subject = unique("as app")
    answer = app(
        "POST",
        f"users/{katherine['userPrincipalName']}/sendMail",
        json={
            "message": {
                "subject": subject,
                "toRecipients": [{"emailAddress": {"address": grace["mail"]}}],
            }
        },
    )
    assert answer.status_code == 202
    [arrived] = messages_with(app, grace["id"], "inbox", subject)
    assert arrived["from"]["emailAddress"]["address"] == katherine["mail"]


def test_listing_pages_with_top_and_next_links(graph_sandbox: RunningSandbox, app: Caller) -> None:
    katherine, grace = graph_sandbox.user("katherine"), graph_sandbox.user("grace")
    tag = unique("paging")
    for number in range(7):
        app(
            "POST",
            f"users/{grace['id']}/sendMail",
            json={
                "message": {
                    "subject": f"{tag} {number}",
                    "toRecipients": [{"emailAddress": {"address": katherine["mail"]}}],
                }
            },
        ).raise_for_status()
        time.sleep(0.01)
    seen: list[dict[str, Any]] = []
    url = f"users/{katherine['id']}/mailFolders/inbox/messages?$top=3"
    while url:
        page = app("GET", url).json()
        assert len(page["value"]) <= 3
        seen += page["value"]
        url = page.get("@odata.nextLink", "")
        assert not url or ("$skip=" in url and "$top=3" in url)
    assert len(seen) >= 7 and len({m["id"] for m in seen}) == len(seen)  # every message once
    received = [m["receivedDateTime"] for m in seen]
    assert received == sorted(received, reverse=True)  # newest first
    mine = [m["subject"] for m in seen if m["subject"].startswith(tag)]
    assert mine == [f"{tag} {n}" for n in reversed(range(7))]


# every request


def test_request_ids(ada: Caller) -> None:
    chosen = str(uuid.uuid4())
    echoed = ada("GET", "me", headers={"client-request-id": chosen})
    assert echoed.headers["client-request-id"] == chosen and GUID.match(
        echoed.headers["request-id"]
    )
    alone = ada("GET", "me")
    assert alone.headers["client-request-id"] == alone.headers["request-id"]
    assert alone.headers["x-ms-ags-diagnostic"].startswith("{")


def test_bad_tokens_are_401_with_www_authenticate(
    graph_sandbox: RunningSandbox, ada: Caller
) -> None:
    def call(token: str | None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return requests.get(
            f"{graph_sandbox.graph_url}/me",
            headers=headers,
            verify=graph_sandbox.ca_file,
            timeout=30,
        )

    genuine = graph_sandbox.user_token("ada")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    header = jwt.get_unverified_header(genuine)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": header["kid"]})
    foreign = jwt.encode(
        {**claims, "aud": "api://someone-else"},
        stranger,
        algorithm="RS256",
        headers={"kid": header["kid"]},
    )

    cases = {
        None: "Access token is empty.",
        "garbage": "CompactToken parsing failed",
        forged: "Access token validation failure",
        foreign: "Access token validation failure",
    }
    for token, message in cases.items():
        answer = call(token)
        error = graph_error(answer, 401, "InvalidAuthenticationToken")
        assert error["message"].startswith(message)
        assert answer.headers["WWW-Authenticate"].startswith('Bearer realm=""')


def test_expired_tokens_are_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    from graphpost.sandbox.process import start_sandbox

    sandbox = start_sandbox(tmp_path_factory.mktemp("expiry"), "--userrealm-port", "0")
    try:
        token = sandbox.user_token("ada")
        caller = Caller(sandbox, token)
        assert caller("GET", "me").status_code == 200
        sandbox.advance_clock(
            3600 + 300 + 5
        )  # past the token's lifetime and Graph's five-minute skew
        error = graph_error(caller("GET", "me"), 401, "InvalidAuthenticationToken")
        assert error["message"] == "Access token has expired or is not yet valid."
        assert Caller(sandbox, sandbox.user_token("ada"))("GET", "me").status_code == 200
    finally:
        sandbox.stop()


def test_unknown_paths_and_methods(ada: Caller) -> None:
    graph_error(ada("GET", "me/nothingHere"), 400, "BadRequest")
    graph_error(ada("DELETE", "me/sendMail"), 405, "Request_BadRequest")


def test_photo_sizes(graph_sandbox: RunningSandbox, ada: Caller) -> None:
    listed = ada("GET", "me/photos").json()["value"]
    assert [p["id"] for p in listed] == ["48x48", "64x64", "96x96", "120x120", "240x240"]
    for size in ("48x48", "120x120"):
        assert ada("GET", f"me/photos/{size}").json()["width"] == int(size.split("x")[0])
        png = ada("GET", f"me/photos/{size}/$value").content
        assert png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") == int(
            size.split("x")[0]
        )
    assert (
        ada("GET", "me/photo/48x48/$value").content == ada("GET", "me/photos/48x48/$value").content
    )
    assert ada("GET", "me/photos/240x240/$value").content == ada("GET", "me/photo/$value").content
    graph_error(ada("GET", "me/photos/999x999/$value"), 404, "ImageNotFound")
