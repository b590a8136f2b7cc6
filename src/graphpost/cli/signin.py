"""The command line's sign-in: `login` (browser with PKCE, or device code), `logout`, `whoami`, and
the Graph clients the other commands act through (the signed-in person's, or the app's own).

Delegated tokens live in a file token cache (mode 0600) under ``GRAPHPOST_HOME/cli``, one per
authority and app registration, holding one account at a time.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from graphpost.auth import AppTokenProvider, PublicSignIn
from graphpost.cli.inflight import InFlightLimit
from graphpost.cli.output import Output
from graphpost.client import Graph
from graphpost.config import Settings
from graphpost.errors import AuthError
from graphpost.tokencache import FileTokenCache
from graphpost.transport import tls_verification

LOGIN_TIMEOUT_SECONDS = 600


def cache_path(settings: Settings) -> Path:
    """The CLI's token cache for this authority and app registration."""
    identity = f"{settings.authority.lower()}|{settings.client_id}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return settings.home / "cli" / f"tokens-{digest}.json"


def person() -> PublicSignIn:
    """The public app's sign-in over the CLI's token cache."""
    # MSAL logs warnings that Python would print to stderr (the sign-in address among them);
    # the commands say what matters themselves, in one line
    logging.getLogger("msal").addHandler(logging.NullHandler())
    logging.getLogger("msal").propagate = False
    settings = Settings.from_env(app="public")
    return PublicSignIn(settings, FileTokenCache(cache_path(settings)))


@dataclass
class Acting:
    """A Graph client and the mailbox and drive it acts on (``me``, or a user for the app)."""

    graph: Graph
    user: str
    # who acts, for a merge's journal: the person's account, or the app and the user it acts as
    identity: str
    home: Path  # GRAPHPOST_HOME: journals and upload sessions go there


def act(sender: str | None = None, in_flight: int | None = None) -> Acting:
    """As the signed-in person, or with `sender` as that user through the app's own permission
    (client credentials of the daemon registration); `in_flight` caps the requests at once."""
    tokens: Any
    if sender is not None:
        settings = Settings.from_env(app="daemon")
        tokens = AppTokenProvider(settings)
        user, identity = sender, f"app {settings.client_id} as {sender.lower()}"
    else:
        tokens = person()
        settings = tokens.settings
        accounts = tokens.accounts()
        if not accounts:
            tokens.token()  # raises: nobody is signed in
        user, identity = "me", f"user {accounts[0].get('home_account_id')}"
    transport = None
    if in_flight is not None:
        verify = tls_verification(settings.ca_file or True)
        transport = InFlightLimit(httpx.HTTPTransport(verify=verify), in_flight)
    graph = Graph.from_settings(
        settings, tokens, state_dir=settings.home / "uploads", transport=transport
    )
    return Acting(graph, user, identity, settings.home)


# -- the commands ----------------------------------------------------------------------------


def run_login(args: argparse.Namespace) -> int:
    out = Output(args.json)
    signin = person()
    if args.device_code:
        out.note("Sign in on any device with a web browser (Ctrl-C to stop):")
        result = signin.device_code(out.note, timeout=args.timeout)
    else:
        result = _in_browser(signin, out, args.timeout)
    claims = result.get("id_token_claims") or {}
    username = str(claims.get("preferred_username") or "")
    # one account at a time: whoami, send and the rest act as the one who signed in last
    for account in signin.app.get_accounts():
        if username and str(account.get("username", "")).lower() != username.lower():
            signin.app.remove_account(account)
    signin.cache.save()
    if out.json_mode:
        out.data(
            {
                "username": username,
                "name": claims.get("name"),
                "tenantId": claims.get("tid"),
                "authority": signin.settings.authority,
            }
        )
    else:
        out.line(f"Signed in as {username or claims.get('name') or 'unknown'}.")
    return 0


def _in_browser(signin: PublicSignIn, out: Output, timeout: float) -> dict[str, Any]:
    from msal.oauth2cli.oauth2 import BrowserInteractionTimeoutError

    def no_browser(url: str) -> None:
        out.note("No web browser could be opened. Open this address in one to sign in:")
        out.note(url)
        out.note("(or sign in on another device: graphpost login --device-code)")

    out.note("Opening a web browser to sign in; waiting for it (Ctrl-C to stop)...")
    try:
        return signin.browser(no_browser, timeout=timeout)
    except BrowserInteractionTimeoutError:
        raise AuthError(
            "timeout", f"the sign-in in the browser did not finish within {timeout:g} seconds"
        ) from None


def run_logout(args: argparse.Namespace) -> int:
    out = Output()
    signin = person()
    names = [str(account.get("username") or "") for account in signin.accounts()]
    signin.sign_out()
    out.line(f"Signed out {', '.join(names)}." if names else "Not signed in.")
    return 0


def run_whoami(args: argparse.Namespace) -> int:
    out = Output(args.json)
    acting = act()
    with acting.graph as graph:
        me = graph.me(select=["id", "displayName", "userPrincipalName", "mail"])
    if out.json_mode:
        out.data({key: value for key, value in me.raw.items() if not key.startswith("@odata")})
    else:
        out.line(f"{me.display_name or me.user_principal_name} <{me.user_principal_name}>")
    return 0
