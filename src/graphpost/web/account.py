"""What the web app keeps about the signed-in person: their profile and their settings.

The settings (default recipients, a signature, a colour theme) live in an open extension on
the user in Graph, so they follow the person to any instance and any device; the session holds
a copy, read back (with the profile and the photo, in one batch) on every sign-in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphpost.client import Graph
from graphpost.core import users
from graphpost.core.batch import BatchRequest, BatchResult
from graphpost.core.http import Response, lower_headers, path_segment, run_operation
from graphpost.core.mail import parse_recipients
from graphpost.errors import GraphError
from graphpost.models import Photo

EXTENSION_NAME = "org.graphpost.web"
THEMES = {"system": "Same as my device", "light": "Light", "dark": "Dark"}
MAX_SIGNATURE_CHARS = 2000
PROFILE_FIELDS = ("displayName", "userPrincipalName", "mail")


class InvalidSetting(ValueError):
    """A settings form value that cannot be kept; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class UserSettings:
    default_recipients: str = ""
    signature: str = ""
    theme: str = "system"

    @classmethod
    def from_values(cls, values: Mapping[str, Any] | None) -> UserSettings:
        """From the extension's values (or the session's copy); anything odd falls back to the default."""
        values = values or {}

        def text(name: str) -> str:
            value = values.get(name)
            return value if isinstance(value, str) else ""

        theme = text("theme")
        return cls(
            default_recipients=text("defaultRecipients"),
            signature=text("signature")[:MAX_SIGNATURE_CHARS],
            theme=theme if theme in THEMES else "system",
        )

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> UserSettings:
        """From the settings form; raises `InvalidSetting` for the first field that is wrong."""
        recipients = form.get("default_recipients", "").strip()
        try:
            parsed = parse_recipients(recipients)
        except ValueError as problem:
            raise InvalidSetting("default_recipients", str(problem)) from None
        signature = form.get("signature", "").replace("\r\n", "\n").strip()
        if len(signature) > MAX_SIGNATURE_CHARS:
            raise InvalidSetting(
                "signature", f"A signature can have at most {MAX_SIGNATURE_CHARS} characters."
            )
        theme = form.get("theme", "system")
        if theme not in THEMES:
            raise InvalidSetting("theme", "Choose one of the themes offered.")
        return cls(default_recipients="; ".join(parsed), signature=signature, theme=theme)

    def to_values(self) -> dict[str, str]:
        return {
            "defaultRecipients": self.default_recipients,
            "signature": self.signature,
            "theme": self.theme,
        }


@dataclass(frozen=True)
class Profile:
    name: str
    username: str
    mail: str

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Profile:
        return cls(
            name=str(values.get("name") or ""),
            username=str(values.get("username") or ""),
            mail=str(values.get("mail") or values.get("username") or ""),
        )

    def to_values(self) -> dict[str, str]:
        return {"name": self.name, "username": self.username, "mail": self.mail}

    @property
    def sender(self) -> str:
        return f"{self.name} <{self.username}>"


@dataclass(frozen=True)
class SignInRead:
    """What the sign-in's batch read; None (or `photo_read` False) for what could not be read:
    the caller falls back to the ID token's claims, and reads the rest again when needed."""

    profile: Profile | None = None
    settings: UserSettings | None = None
    photo: Photo | None = None
    photo_read: bool = False  # True with `photo` None: the user has no photo


# what every sign-in reads, independent of each other: Graph runs them in parallel
SIGN_IN_REQUESTS = (
    BatchRequest("me", "GET", f"/me?$select={','.join(PROFILE_FIELDS)}"),
    BatchRequest("settings", "GET", f"/me/extensions/{path_segment(EXTENSION_NAME)}"),
    BatchRequest("photo", "GET", "/me/photo/$value"),
)


def read_at_sign_in(graph: Graph) -> SignInRead:
    """The profile, the settings and the photo in one round trip (a batch)."""
    try:
        results = graph.batch(SIGN_IN_REQUESTS)
    except GraphError:
        return SignInRead()
    profile: Profile | None = None
    me = results.get("me")
    if me is not None and me.ok and isinstance(me.body, dict):
        profile = Profile(
            name=str(me.body.get("displayName") or ""),
            username=str(me.body.get("userPrincipalName") or ""),
            mail=str(me.body.get("mail") or me.body.get("userPrincipalName") or ""),
        )
    settings: UserSettings | None = None
    found = results.get("settings")
    if found is not None and found.status == 404:
        settings = UserSettings()  # never saved: the defaults
    elif found is not None and found.ok and isinstance(found.body, dict):
        settings = UserSettings.from_values(found.body)
    photo_answer = results.get("photo")
    try:
        photo = photo_from(photo_answer) if photo_answer is not None else None
    except GraphError:
        return SignInRead(profile, settings)
    return SignInRead(profile, settings, photo, photo_read=photo_answer is not None)


def photo_from(result: BatchResult) -> Photo | None:
    """A batch's answer to ``GET /me/photo/$value`` read by the library's own rule: the photo,
    None when the user has none, a `GraphError` for any other failure."""
    if isinstance(result.body, bytes):
        content = result.body
    else:
        content = json.dumps(result.body).encode() if isinstance(result.body, dict) else b""
    answer = Response(result.status, lower_headers(result.headers), content)
    return run_operation(users.get_photo("me"), lambda _request: answer)


def read_settings(graph: Graph) -> UserSettings:
    extension = graph.extension(EXTENSION_NAME)
    return UserSettings.from_values(extension.values if extension else None)


def save_settings(graph: Graph, settings: UserSettings) -> None:
    graph.save_extension(EXTENSION_NAME, settings.to_values())
