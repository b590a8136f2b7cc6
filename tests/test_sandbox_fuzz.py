"""Bad input never gives a 5xx: hypothesis throws malformed requests at every Graph route and at
Entra ID's endpoints; every answer is a 4xx in the right shape and the sandbox keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphpost.sandbox.graph  # noqa: F401 - registers every route
from graphpost.sandbox.process import RunningSandbox, start_sandbox

EXAMPLES = 250

# every Graph route of the sandbox, with {x} where an id or a name goes
ROUTES = [
    ("GET", "me"),
    ("GET", "users/{x}"),
    ("GET", "users"),
    ("GET", "me/photo"),
    ("GET", "me/photo/$value"),
    ("GET", "me/photos/{x}/$value"),
    ("GET", "users/{x}/photo/$value"),
    ("POST", "me/sendMail"),
    ("POST", "users/{x}/sendMail"),
    ("POST", "me/microsoft.graph.sendMail"),
    ("GET", "me/mailFolders/{x}/messages"),
    ("GET", "me/messages"),
    ("GET", "me/messages/{x}"),
    ("GET", "me/messages/{x}/attachments"),
    ("GET", "me/messages/{x}/attachments/{x}/$value"),
    ("POST", "me/messages/{x}/extensions"),
    ("GET", "me/mailFolders"),
    ("GET", "me/mailFolders/{x}"),
    ("POST", "me/messages"),
    ("POST", "me/mailFolders/{x}/messages"),
    ("PATCH", "me/messages/{x}"),
    ("DELETE", "me/messages/{x}"),
    ("POST", "me/messages/{x}/send"),
    ("POST", "me/messages/{x}/move"),
    ("POST", "me/messages/{x}/attachments"),
    ("DELETE", "me/messages/{x}/attachments/{x}"),
    ("POST", "me/messages/{x}/attachments/createUploadSession"),
    ("PATCH", "me/messages/{x}/extensions/{x}"),
    ("PUT", "me/drive/root:/{x}:/content"),
    ("PUT", "me/drive/root/children/{x}/content"),
    ("PUT", "me/drive/items/{x}/content"),
    ("GET", "me/drive/root:/{x}"),
    ("GET", "me/drive/items/{x}"),
    ("POST", "me/drive/items/{x}/createLink"),
    ("GET", "me/drive"),
    ("GET", "drives/{x}"),
    ("GET", "me/drive/root/children"),
    ("GET", "me/drive/items/{x}/children"),
    ("POST", "me/drive/root/children"),
    ("DELETE", "me/drive/items/{x}"),
    ("GET", "me/drive/items/{x}/content"),
    ("POST", "me/drive/root:/{x}:/createUploadSession"),
    ("POST", "me/drive/items/{x}/createUploadSession"),
    ("POST", "me/extensions"),
    ("PATCH", "me/extensions/{x}"),
    ("DELETE", "me/extensions/{x}"),
    ("POST", "$batch"),
    ("GET", "{x}"),
    ("DELETE", "me/sendMail"),
    ("PUT", "me/drive/items/{x}:/{x}:/content"),
    ("POST", "me/drive/items/{x}:/{x}:/createUploadSession"),
    ("GET", "me/extensions"),
    ("GET", "me/extensions/{x}"),
    ("GET", "me/messages/{x}/extensions"),
    ("GET", "me/messages/{x}/extensions/{x}"),
    ("DELETE", "me/messages/{x}/extensions/{x}"),
    ("POST", "me/messages/{x}/permanentDelete"),
    ("GET", "me/messages/{x}/attachments/{x}"),
    ("GET", "me/photos"),
    ("GET", "me/photos/{x}"),
]

odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "..",
            "%2e%2e",
            "'",
            "()",
            "a:b",
            "x" * 600,
            "\u202e",
            "root",
            "DRAFT",
            "inbox",
            "$value",
        ]
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
# shapes close to real payloads, so the fuzzing reaches past the first check
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "message": st.fixed_dictionaries(
                {"subject": json_values, "toRecipients": json_values, "body": json_values}
            )
        },
        optional={"saveToSentItems": json_values},
    ),
    st.fixed_dictionaries({"type": json_values, "scope": json_values}),
    st.fixed_dictionaries(
        {
            "requests": st.lists(
                st.dictionaries(
                    st.sampled_from(["id", "method", "url", "body", "headers", "dependsOn"]),
                    json_values,
                    max_size=6,
                ),
                max_size=25,
            )
        }
    ),
    st.fixed_dictionaries(
        {"@odata.type": st.just("microsoft.graph.openTypeExtension"), "extensionName": json_values},
        optional={"extra": json_values},
    ),
)
query_strings = st.dictionaries(
    st.sampled_from(
        [
            "$count",
            "$top",
            "$skip",
            "$select",
            "$expand",
            "$filter",
            "$orderby",
            "$skiptoken",
            "@microsoft.graph.conflictBehavior",
        ]
    ),
    odd_text | st.integers(min_value=-(10**12), max_value=10**12).map(str),
    max_size=3,
)


class Target:
    """The fuzzed sandbox, a client and tokens; its repr shows no secret in a failure report."""

    def __init__(self, sandbox: RunningSandbox, http: httpx.Client) -> None:
        self.sandbox, self.http = sandbox, http
        self.tokens = {
            "user": sandbox.user_token("ada"),
            "app": sandbox.app_token(),
            "garbage": "x.y.z",
            "none": "",
        }

        created = http.post(
            f"{sandbox.graph_url}/me/messages",
            json={"subject": "fuzz"},
            headers={"Authorization": f"Bearer {self.tokens['user']}"},
        )
        self.draft_id = created.json()["id"]
        auth = {"Authorization": f"Bearer {self.tokens['user']}"}
        self.upload_urls = [
            http.post(
                f"{sandbox.graph_url}/me/drive/root:/fuzz.bin:/createUploadSession", headers=auth
            ).json()["uploadUrl"],
            http.post(
                f"{sandbox.graph_url}/me/messages/{self.draft_id}/attachments/createUploadSession",
                json={"AttachmentItem": {"attachmentType": "file", "name": "f", "size": 3_200_000}},
                headers=auth,
            ).json()["uploadUrl"],
        ]

    def __repr__(self) -> str:
        return f"Target({self.sandbox.graph_url})"


def test_the_fuzzed_routes_are_every_route() -> None:
    """Each route the sandbox's Graph registers is fuzzed: a new one must join ROUTES."""
    from graphpost.sandbox.graph import router

    samples = [(method, path.replace("{x}", "x")) for method, path in ROUTES]
    unfuzzed = [
        f"{registered.method} {registered.pattern.pattern}"
        for registered in router.ROUTES
        if not any(m == registered.method and registered.pattern.match(p) for m, p in samples)
    ]
    assert unfuzzed == []


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    sandbox = start_sandbox(
        tmp_path_factory.mktemp("fuzz"), "--userrealm-port", "0", "--no-throttling"
    )
    with sandbox.client() as http:
        try:
            yield Target(sandbox, http)
        finally:
            sandbox.stop()


def assert_graph_error(answer: httpx.Response) -> None:
    assert answer.status_code < 500, f"{answer.status_code}: {answer.text[:300]}"
    if answer.status_code >= 400:
        error = answer.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(ROUTES),
    fill=odd_text,
    body=st.one_of(payloads.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)),
    query=query_strings,
    token=st.sampled_from(["user", "app", "garbage", "none"]),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/octet-stream", ""]
    ),
)
def test_graph_routes_answer_bad_input_with_4xx(
    target: Target,
    route: tuple[str, str],
    fill: str,
    body: bytes,
    query: dict[str, str],
    token: str,
    content_type: str,
) -> None:
    sandbox, http, tokens = target.sandbox, target.http, target.tokens
    method, template = route
    fill = target.draft_id if fill == "DRAFT" else fill  # reach past "not found" too
    path = template.replace("{x}", quote(fill, safe="") or "x")
    headers = {"Authorization": f"Bearer {tokens[token]}"} if tokens[token] else {}
    if content_type:
        headers["Content-Type"] = content_type
    answer = http.request(
        method,
        f"{sandbox.graph_url}/{path}",
        params=query,
        headers=headers,
        content=body if method != "GET" else None,
    )
    assert_graph_error(answer)


@settings(
    max_examples=EXAMPLES // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    endpoint=st.sampled_from(["oauth2/v2.0/token", "oauth2/v2.0/devicecode"]),
    form=st.dictionaries(
        st.sampled_from(
            [
                "grant_type",
                "client_id",
                "client_secret",
                "scope",
                "code",
                "redirect_uri",
                "code_verifier",
                "refresh_token",
                "username",
                "password",
                "device_code",
            ]
        ),
        odd_text,
        max_size=6,
    ),
)
def test_entra_endpoints_answer_bad_input_with_4xx(
    target: Target, endpoint: str, form: dict[str, str]
) -> None:
    sandbox, http = target.sandbox, target.http
    answer = http.post(f"{sandbox.authority}/{endpoint}", data=form)
    assert answer.status_code < 500, answer.text[:300]
    if answer.status_code >= 400:
        body = answer.json()
        assert body["error"] and body["error_description"].startswith("AADSTS")


@settings(
    max_examples=EXAMPLES // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    which=st.sampled_from([0, 1]),
    method=st.sampled_from(["PUT", "GET", "DELETE", "POST"]),
    content_range=st.one_of(
        st.none(),
        st.from_regex(r"[!-~][ -~]{0,38}[!-~]", fullmatch=True),  # what a header may hold
        st.tuples(
            st.integers(-5, 4_000_000), st.integers(-5, 4_000_000), st.integers(-5, 4_000_000)
        ).map(lambda t: f"bytes {t[0]}-{t[1]}/{t[2]}"),
    ),
    body=st.binary(max_size=2000),
    token=st.sampled_from([None, "wrong", "keep"]),
)
def test_upload_urls_answer_bad_input_with_4xx(
    target: Target,
    which: int,
    method: str,
    content_range: str | None,
    body: bytes,
    token: str | None,
) -> None:
    url = target.upload_urls[which]
    if token != "keep":
        url = url.split("?", 1)[0] + ("" if token is None else "?tempauth=x&authtoken=x")
    headers = {"Content-Range": content_range} if content_range else {}
    answer = target.http.request(
        method, url, headers=headers, content=body if method == "PUT" else None
    )
    assert answer.status_code < 500, answer.text[:300]


def test_the_sandbox_keeps_serving(
    target: Target,
) -> None:
    sandbox, http, tokens = target.sandbox, target.http, target.tokens
    answer = http.get(
        f"{sandbox.graph_url}/me", headers={"Authorization": f"Bearer {tokens['user']}"}
    )
    assert answer.status_code == 200 and sandbox.process.poll() is None
