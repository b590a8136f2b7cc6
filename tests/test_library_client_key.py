"""The client key that keeps a mail from going out twice: a single-value extended property on the
message, found again in Sent Items, as Microsoft advises for finding a sent mail (the sandbox
keeps such properties, filters on them, and never shows them unasked)."""

from __future__ import annotations

import uuid

from graphpost.core.mail import CLIENT_KEY_PROPERTY  # the library's own property id
from graphpost.sandbox.process import RunningSandbox


def _key_filter(key: str) -> str:
    return (
        "singleValueExtendedProperties/any(ep: ep/id eq "
        f"'{CLIENT_KEY_PROPERTY}' and ep/value eq '{key}')"
    )


def test_the_sandbox_keeps_a_sent_mails_extended_property_in_sent_items(
    graph_sandbox: RunningSandbox,
) -> None:
    key, other = uuid.uuid4().hex, uuid.uuid4().hex
    grace = graph_sandbox.user("grace")
    with graph_sandbox.client(base_url=graph_sandbox.graph_url) as http:
        headers = {"Authorization": f"Bearer {graph_sandbox.user_token('ada')}"}
        message = {
            "subject": f"keyed {key[:6]}",
            "toRecipients": [{"emailAddress": {"address": grace["mail"]}}],
            "singleValueExtendedProperties": [{"id": CLIENT_KEY_PROPERTY, "value": key}],
        }
        sent = http.post("/me/sendMail", headers=headers, json={"message": message})
        assert sent.status_code == 202
        draft = http.post(
            "/me/messages",
            headers=headers,
            json={
                **message,
                "singleValueExtendedProperties": [{"id": CLIENT_KEY_PROPERTY, "value": other}],
            },
        )
        assert draft.status_code == 201
        assert "singleValueExtendedProperties" not in draft.json()  # only to an $expand
        url = "/me/mailFolders/sentitems/messages"
        found = http.get(url, headers=headers, params={"$filter": _key_filter(key)})
        assert found.status_code == 200
        [copy] = found.json()["value"]
        assert copy["subject"] == f"keyed {key[:6]}" and not copy["isDraft"]
        assert "singleValueExtendedProperties" not in copy
        # the draft is not in Sent Items until it is sent; then it is, with its own key
        assert (
            http.get(url, headers=headers, params={"$filter": _key_filter(other)}).json()["value"]
            == []
        )
        assert (
            http.post(f"/me/messages/{draft.json()['id']}/send", headers=headers).status_code == 202
        )
        [sent_draft] = http.get(
            url, headers=headers, params={"$filter": _key_filter(other)}
        ).json()["value"]
        assert sent_draft["id"] != draft.json()["id"]
        # the recipient's copy does not carry the sender's key
        grace_headers = {"Authorization": f"Bearer {graph_sandbox.user_token('grace')}"}
        assert (
            http.get(
                "/me/messages", headers=grace_headers, params={"$filter": _key_filter(key)}
            ).json()["value"]
            == []
        )
        bad = http.post(
            "/me/messages",
            headers=headers,
            json={**message, "singleValueExtendedProperties": [{"id": "nonsense", "value": "x"}]},
        )
        assert bad.status_code == 400
