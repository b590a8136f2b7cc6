"""What the mail form shows and sends: the user's photo (or the placeholder), its sharing link, the body."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from importlib import resources

from flask import render_template

from graphpost.client import Graph
from graphpost.errors import GraphError
from graphpost.models import Photo
from graphpost.web.account import Profile, UserSettings
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


def _photo_key(home_account_id: str) -> str:
    return f"web:photo:{home_account_id}"


def share_photo(
    graph: Graph, store: Store, home_account_id: str, picture: Picture
) -> tuple[str | None, str | None]:
    """The photo's view link in OneDrive: (link, None), or (None, why there is none).

    The sample uploaded the photo and asked for a link on every page load.  Here the upload
    happens only when the photo changed (its hash is kept in the store), and a new link only
    when the upload made a new file: replacing a file's content keeps its sharing link.
    """
    digest = hashlib.sha256(picture.content).hexdigest()
    raw = store.get(_photo_key(home_account_id))
    known: dict[str, str] = json.loads(raw) if raw else {}
    if known.get("sha256") == digest and known.get("name") == picture.filename:
        return known["link"], None
    try:
        item = graph.upload(picture.filename, picture.content, content_type=picture.content_type)
        link = known.get("link") if known.get("item_id") == item.id else None
        if link is None:
            link = graph.create_link(item.id, type="view", scope="organization").web_url
    except GraphError as failure:
        # the mail can still go out; the body says why there is no link instead of href="None"
        return None, str(failure)
    state = {"sha256": digest, "name": picture.filename, "item_id": item.id, "link": link}
    store.set(_photo_key(home_account_id), json.dumps(state), PHOTO_STATE_SECONDS)
    return link, None


def prepare(
    graph: Graph, profile: Profile, settings: UserSettings, store: Store, home_account_id: str
) -> FormContent:
    """The sample's content: the profile (kept since sign-in), the photo (one request), its
    OneDrive link (requests only when the photo changed), the prefilled body with the signature."""
    picture = picture_of(graph.photo())
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
