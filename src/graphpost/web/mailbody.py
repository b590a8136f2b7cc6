"""A mail's HTML as the message frame serves it: its links open a new top-level tab, and its
inline images (``cid:``) come from the app, each at an address signed for that one attachment.

The frame is sandboxed, so its document has an opaque origin and the browser sends the session
cookie (SameSite=Lax) with none of its image requests: an inline image's address carries its
own proof instead, short-lived and good for one image of one message of one account.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from itsdangerous import BadData, URLSafeTimedSerializer

# what must stay at the very start of a document: a byte order mark, blanks, comments, the
# doctype (anything before a doctype would put the page in quirks mode)
_PROLOGUE = re.compile(r"\A\ufeff?(?:\s|<!--.*?-->)*(?:<!doctype[^>]*>)?", re.I | re.S)
# the first <base> with a target sets it for the document, so the mail's own come after ours
NEW_TAB_BASE = '<base target="_blank">'
_CID_SOURCE = re.compile(
    r"""(?P<attribute>\s(?:src|background)\s*=\s*)"""
    r"""(?:"\s*cid:(?P<double>[^"]*)"|'\s*cid:(?P<single>[^']*)'|cid:(?P<bare>[^\s"'>]+))""",
    re.I,
)
INLINE_IMAGE_SECONDS = 3600  # as long as OneDrive's pre-authenticated download addresses
_SALT = "graphpost-inline-image"


def open_links_in_new_tabs(document: str) -> str:
    prologue = _PROLOGUE.match(document)
    end = prologue.end() if prologue else 0
    return document[:end] + NEW_TAB_BASE + document[end:]


def content_id(reference: str) -> str:
    """The Content-ID a ``cid:`` URL names (RFC 2392: URL-encoded, no angle brackets)."""
    return unquote(html.unescape(reference)).strip().strip("<>")


def show_inline_images(document: str, address_of: Callable[[str], str | None]) -> str:
    """Every ``src`` or ``background`` that names ``cid:…`` points at `address_of(content id)`
    instead; a reference to no attachment of the mail stays as it is (and shows nothing)."""

    def replace(found: re.Match[str]) -> str:
        reference = found.group("double") or found.group("single") or found.group("bare") or ""
        address = address_of(content_id(reference))
        if address is None:
            return found.group(0)
        return f'{found.group("attribute")}"{html.escape(address)}"'

    return _CID_SOURCE.sub(replace, document)


@dataclass(frozen=True)
class InlineImage:
    """One image attachment of one message, shown to one account (its MSAL home account id)."""

    account: str
    message_id: str
    attachment_id: str
    content_type: str

    def sign(self, secret: str) -> str:
        fields = [self.account, self.message_id, self.attachment_id, self.content_type]
        return str(URLSafeTimedSerializer(secret, salt=_SALT).dumps(fields))

    @classmethod
    def verified(cls, secret: str, token: str) -> InlineImage | None:
        """The image `token` was signed for, unless it is forged, altered or expired."""
        try:
            fields = URLSafeTimedSerializer(secret, salt=_SALT).loads(
                token, max_age=INLINE_IMAGE_SECONDS
            )
        except BadData:
            return None
        if not (isinstance(fields, list) and len(fields) == 4):
            return None
        if not all(isinstance(field, str) for field in fields):
            return None
        return cls(*fields)


def is_image(content_type: str | None) -> bool:
    return bool(content_type) and str(content_type).lower().startswith("image/")
