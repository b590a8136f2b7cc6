"""What the mail form shows and sends: the user's photo (or the placeholder), its sharing link, the body."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from importlib import resources

from flask import render_template

from graphpost.client import Graph
from graphpost.errors import GraphError
from graphpost.models import Photo

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


def prepare(graph: Graph) -> FormContent:
    """The sample's steps: profile, photo, photo to OneDrive, a view link to it, the prefilled body."""
    me = graph.me()
    picture = picture_of(graph.photo())
    link_url: str | None = None
    problem: str | None = None
    try:
        item = graph.upload(picture.filename, picture.content, content_type=picture.content_type)
        link_url = graph.create_link(item.id, type="view", scope="organization").web_url
    except GraphError as failure:
        # the mail can still go out; the body says why there is no link instead of href="None"
        problem = str(failure)
    body = render_template(
        "email_body.html", name=me.display_name, link_url=link_url, link_problem=problem
    )
    return FormContent(
        sender=f"{me.display_name} <{me.user_principal_name}>",
        recipients=me.user_principal_name,
        subject=DEFAULT_SUBJECT,
        body=body,
        picture=picture,
        link_url=link_url,
        link_problem=problem,
    )
