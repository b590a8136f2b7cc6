"""graphpost: send mail and move OneDrive files through Microsoft Graph.

The public names below are imported on first use, so ``import graphpost`` loads
neither httpx nor MSAL::

    from graphpost import Graph, Settings
    with Graph(token) as graph:
        graph.send_mail("Hello", "<p>Hi</p>", to="ada@example.com")
"""

from __future__ import annotations

import importlib

# not `from typing import TYPE_CHECKING`: typing (and re, enum) would cost more than all the rest
TYPE_CHECKING = False

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Graph": "graphpost.client",
    "AsyncGraph": "graphpost.aio",
    "OutgoingMail": "graphpost.core.mail",
    "SendOutcome": "graphpost.core.mail",
    "BatchRequest": "graphpost.core.batch",
    "BatchResult": "graphpost.core.batch",
    "Extension": "graphpost.models",
    "MailFolder": "graphpost.models",
    "Settings": "graphpost.config",
    "ConfigError": "graphpost.config",
    "RetryPolicy": "graphpost.core.retry",
    "FileAttachment": "graphpost.core.mail",
    "build_message": "graphpost.core.mail",
    "parse_recipients": "graphpost.core.mail",
    "AppTokenProvider": "graphpost.auth",
    "AuthCodeFlow": "graphpost.auth",
    "PublicSignIn": "graphpost.auth",
    "RedisTokenCache": "graphpost.tokencache",
    "app_token": "graphpost.auth",
    "build_confidential_app": "graphpost.auth",
    "build_public_app": "graphpost.auth",
    "FileTokenCache": "graphpost.tokencache",
    "AuthError": "graphpost.errors",
    "AuthFailure": "graphpost.errors",
    "BadRequest": "graphpost.errors",
    "Conflict": "graphpost.errors",
    "Forbidden": "graphpost.errors",
    "GraphError": "graphpost.errors",
    "InvalidRecipients": "graphpost.errors",
    "NotFound": "graphpost.errors",
    "ServerError": "graphpost.errors",
    "SizeLimitExceeded": "graphpost.errors",
    "Throttled": "graphpost.errors",
    "TooLarge": "graphpost.errors",
    "TransportError": "graphpost.errors",
    "Unauthorized": "graphpost.errors",
    "Attachment": "graphpost.models",
    "DriveItem": "graphpost.models",
    "Message": "graphpost.models",
    "Page": "graphpost.models",
    "Photo": "graphpost.models",
    "Recipient": "graphpost.models",
    "SendReceipt": "graphpost.models",
    "SharingLink": "graphpost.models",
    "User": "graphpost.models",
}

__all__ = [
    "AppTokenProvider",
    "AsyncGraph",
    "Attachment",
    "AuthCodeFlow",
    "AuthError",
    "AuthFailure",
    "BadRequest",
    "BatchRequest",
    "BatchResult",
    "ConfigError",
    "Conflict",
    "DriveItem",
    "Extension",
    "FileAttachment",
    "FileTokenCache",
    "Forbidden",
    "Graph",
    "GraphError",
    "InvalidRecipients",
    "MailFolder",
    "Message",
    "NotFound",
    "OutgoingMail",
    "Page",
    "Photo",
    "PublicSignIn",
    "Recipient",
    "RedisTokenCache",
    "RetryPolicy",
    "SendOutcome",
    "SendReceipt",
    "ServerError",
    "Settings",
    "SharingLink",
    "SizeLimitExceeded",
    "Throttled",
    "TooLarge",
    "TransportError",
    "Unauthorized",
    "User",
    "__version__",
    "app_token",
    "build_confidential_app",
    "build_message",
    "build_public_app",
    "parse_recipients",
]

if TYPE_CHECKING:
    from typing import Any

    from graphpost.aio import AsyncGraph
    from graphpost.auth import (
        AppTokenProvider,
        AuthCodeFlow,
        PublicSignIn,
        app_token,
        build_confidential_app,
        build_public_app,
    )
    from graphpost.client import Graph
    from graphpost.config import ConfigError, Settings
    from graphpost.core.batch import BatchRequest, BatchResult
    from graphpost.core.mail import (
        FileAttachment,
        OutgoingMail,
        SendOutcome,
        build_message,
        parse_recipients,
    )
    from graphpost.core.retry import RetryPolicy
    from graphpost.errors import (
        AuthError,
        AuthFailure,
        BadRequest,
        Conflict,
        Forbidden,
        GraphError,
        InvalidRecipients,
        NotFound,
        ServerError,
        SizeLimitExceeded,
        Throttled,
        TooLarge,
        TransportError,
        Unauthorized,
    )
    from graphpost.models import (
        Attachment,
        DriveItem,
        Extension,
        MailFolder,
        Message,
        Page,
        Photo,
        Recipient,
        SendReceipt,
        SharingLink,
        User,
    )
    from graphpost.tokencache import FileTokenCache, RedisTokenCache


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'graphpost' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
