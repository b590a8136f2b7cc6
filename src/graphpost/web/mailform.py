"""What the mail form shows and sends: the user's photo (or the placeholder), its sharing link, the body."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from flask import render_template

from graphpost.client import Graph
from graphpost.core.batch import BatchRequest
from graphpost.core.drive import item_path
from graphpost.errors import GraphError
from graphpost.models import DriveItem, Photo, SharingLink
from graphpost.web.account import Profile, SignInRead, UserSettings
from graphpost.web.store import Store

DEFAULT_SUBJECT = "email from Microsoft Graph"
PLACEHOLDER_NAME = "no-profile-photo.png"


@dataclass(frozen=True)
class Picture:
    """The file attached to the mail: the user's own photo, or the placeholder when they have none."""

    filename: str
    content: bytes
    content_type: str
    is_placeholder: bool

    @property
    def data_uri(self) -> str:
        return f"data:{self.content_type};base64,{base64.b64encode(self.content).decode()}"


def placeholder() -> Picture:
    content = resources.files("graphpost.web").joinpath("static", PLACEHOLDER_NAME).read_bytes()
    return Picture(PLACEHOLDER_NAME, content, "image/png", is_placeholder=True)


def picture_of(photo: Photo | None) -> Picture:
    if photo is None:
        return placeholder()
    return Picture(photo.filename, photo.content, photo.content_type, is_placeholder=False)


@dataclass(frozen=True)
class FormContent:
    sender: str
    recipients: str
    subject: str
    body: str
    picture: Picture
    link_url: str | None
    link_problem: str | None


PHOTO_STATE_SECONDS = 90 * 24 * 3600
# a batch is refused over 4 MB, and a binary body grows by a third in base64: a larger photo
# (Exchange takes up to 4 MB) goes in its own request
BATCHED_UPLOAD_MAX = 2 * 1024 * 1024
LINK_TYPE, LINK_SCOPE = "view", "organization"


# the photo read at sign-in waits here for the first mail form (which then needs no request of
# its own for it); briefly, since it may change, and only up to a size worth keeping
SIGNED_IN_PHOTO_SECONDS = 10 * 60
SIGNED_IN_PHOTO_MAX = 1024 * 1024


def _photo_key(home_account_id: str) -> str:
    return f"web:photo:{home_account_id}"


def _signed_in_photo_key(home_account_id: str) -> str:
    return f"web:signed-in-photo:{home_account_id}"


def keep_signed_in_photo(store: Store, home_account_id: str, read: SignInRead) -> None:
    """Keep the photo the sign-in read (or that there is none) for the first mail form; forget
    an older one when this sign-in could not read it."""
    key = _signed_in_photo_key(home_account_id)
    photo = read.photo
    if not read.photo_read or (photo is not None and photo.size > SIGNED_IN_PHOTO_MAX):
        store.delete(key)
        return
    state = (
        {"none": True}
        if photo is None
        else {
            "filename": photo.filename,
            "content_type": photo.content_type,
            "content": base64.b64encode(photo.content).decode(),
        }
    )
    store.set(key, json.dumps(state), SIGNED_IN_PHOTO_SECONDS)


def take_signed_in_photo(store: Store, home_account_id: str) -> Picture | None:
    """The picture kept at sign-in, once (later forms ask Graph, and so see a new photo); None
    when nothing is kept."""
    key = _signed_in_photo_key(home_account_id)
    raw = store.get(key)
    if raw is None:
        return None
    store.delete(key)
    try:
        state = json.loads(raw)
        if state.get("none") is True:
            return placeholder()
        content = base64.b64decode(state["content"], validate=True)
        return Picture(state["filename"], content, state["content_type"], is_placeholder=False)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # not what this version keeps: ask Graph


def forget_signed_in_photo(store: Store, home_account_id: str) -> None:
    store.delete(_signed_in_photo_key(home_account_id))


def json_object(body: Any) -> dict[str, Any]:
    """A batch answer's JSON object.  Graph returns the answer to a request whose body went in
    base64 base64-encoded too, even under a JSON Content-Type ("by design", Microsoft Q&A 1352007)."""
    if isinstance(body, str):
        try:
            body = json.loads(base64.b64decode(body, validate=True))
        except ValueError:
            return {}
    return body if isinstance(body, dict) else {}


def upload_and_share(graph: Graph, picture: Picture) -> tuple[DriveItem, str]:
    """The photo into OneDrive and its view link, in one round trip: the upload and, after it,
    createLink on the same path (an item's actions take path-based addressing too)."""
    address = item_path("me", picture.filename)
    results = graph.batch(
        [
            BatchRequest(
                "upload",
                "PUT",
                f"{address}/content",
                body=picture.content,
                headers={"Content-Type": picture.content_type},
            ),
            BatchRequest(
                "link",
                "POST",
                f"{address}/createLink",
                body={"type": LINK_TYPE, "scope": LINK_SCOPE},
                depends_on=["upload"],
            ),
        ]
    )
    uploaded, shared = results["upload"], results["link"]
    for result in (uploaded, shared):
        if not result.ok:
            raise result.error()
    link = SharingLink.from_json(json_object(shared.body), created=shared.status == 201)
    return DriveItem.from_json(json_object(uploaded.body)), link.web_url


def share_photo(
    graph: Graph, store: Store, home_account_id: str, picture: Picture
) -> tuple[str | None, str | None]:
    """The photo's view link in OneDrive: (link, None), or (None, why there is none).

    The sample uploaded the photo and asked for a link on every page load.  Here the upload
    happens only when the photo changed (its hash is kept in the store): a new photo goes up
    with its link in one batch; a changed one only replaces the file's content, which keeps
    its sharing link.
    """
    digest = hashlib.sha256(picture.content).hexdigest()
    raw = store.get(_photo_key(home_account_id))
    known: dict[str, str] = json.loads(raw) if raw else {}
    if known.get("sha256") == digest and known.get("name") == picture.filename:
        return known["link"], None
    try:
        link: str | None
        if known.get("name") == picture.filename or len(picture.content) > BATCHED_UPLOAD_MAX:
            item = graph.upload(
                picture.filename, picture.content, content_type=picture.content_type
            )
            link = known.get("link") if known.get("item_id") == item.id else None
        else:
            item, link = upload_and_share(graph, picture)
        if link is None:  # a new file under the old name (the first was deleted), or a large photo
            link = graph.create_link(item.id, type=LINK_TYPE, scope=LINK_SCOPE).web_url
    except GraphError as failure:
        # the mail can still go out; the body says why there is no link instead of href="None"
        return None, str(failure)
    state = {"sha256": digest, "name": picture.filename, "item_id": item.id, "link": link}
    store.set(_photo_key(home_account_id), json.dumps(state), PHOTO_STATE_SECONDS)
    return link, None


def prepare(
    graph: Graph, profile: Profile, settings: UserSettings, store: Store, home_account_id: str
) -> FormContent:
    """The sample's content: the profile (kept since sign-in), the photo (read at sign-in for
    the first form, one request for later ones), its OneDrive link (one more round trip, only
    when the photo changed), the prefilled body with the signature."""
    picture = take_signed_in_photo(store, home_account_id) or picture_of(graph.photo())
    link_url, problem = share_photo(graph, store, home_account_id, picture)
    return FormContent(
        sender=profile.sender,
        recipients=settings.default_recipients or profile.username,
        subject=DEFAULT_SUBJECT,
        body=render_body(profile, settings, link_url, problem),
        picture=picture,
        link_url=link_url,
        link_problem=problem,
    )


def render_body(
    profile: Profile, settings: UserSettings, link_url: str | None, link_problem: str | None
) -> str:
    return render_template(
        "email_body.html",
        name=profile.name,
        link_url=link_url,
        link_problem=link_problem,
        signature_lines=settings.signature.splitlines(),
    )
