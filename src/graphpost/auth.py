"""Sign-in with MSAL: the apps built from `Settings`, app-only tokens, and the web app's auth code flow.

MSAL is imported inside the functions, so that ``import graphpost`` stays fast.  No
function here logs or raises anything that contains a token, secret or code.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from graphpost.config import ConfigError, Settings
from graphpost.errors import AuthError, AuthFailure

if TYPE_CHECKING:
    import msal

    from graphpost.tokencache import FileTokenCache

__all__ = [
    "DELEGATED_SCOPES",
    "AppTokenProvider",
    "AuthCodeFlow",
    "PublicSignIn",
    "app_token",
    "build_confidential_app",
    "build_public_app",
    "graph_scope",
]

# The delegated permissions graphpost's web app and CLI ask for: profile and photo, send mail,
# put files in OneDrive, and Mail.ReadWrite because a mail is sent exactly once through a draft
# (and the inbox is read).  MSAL adds openid, profile and offline_access itself.
DELEGATED_SCOPES = ("User.Read", "Mail.ReadWrite", "Mail.Send", "Files.ReadWrite")

# Graph's hosts in Microsoft's clouds; any other Graph URL (a sandbox) takes the public cloud's scope
_GRAPH_HOSTS = frozenset(
    {
        "graph.microsoft.com",
        "graph.microsoft.us",
        "dod-graph.microsoft.us",
        "microsoftgraph.chinacloudapi.cn",
    }
)


def graph_scope(settings: Settings) -> str:
    """The app-only scope for the configured Graph: ``https://graph.microsoft.com/.default``."""
    host = (urlsplit(settings.graph_url).hostname or "").lower()
    if host in _GRAPH_HOSTS:
        return f"https://{host}/.default"
    return "https://graph.microsoft.com/.default"


def _common_options(
    settings: Settings, cache: Any, http_cache: Any, http_client: Any = None
) -> dict[str, Any]:
    if not settings.client_id:
        raise ConfigError(
            "no app registration: set GRAPHPOST_CLIENT_ID (or GRAPHPOST_SANDBOX to a sandbox folder)"
        )
    from graphpost import __version__

    options: dict[str, Any] = {
        "authority": settings.authority,
        "token_cache": cache,
        # instance discovery asks login.microsoftonline.com about the host: wrong for a sandbox
        "instance_discovery": settings.needs_instance_discovery,
        "verify": True,  # a CA file is trusted through the session below
        "app_name": "graphpost",
        "app_version": __version__,
    }
    if http_cache is not None:
        options["http_cache"] = http_cache
    if http_client is not None:
        options["http_client"] = HttpxForMsal(http_client)
    elif settings.ca_file:
        options["http_client"] = _session_trusting(settings.ca_file)
    return options


class HttpxForMsal:
    """MSAL's ``http_client`` over an ``httpx.Client``: sign-in then shares Graph's connections
    and TLS trust (no requests session, no second TLS context, no second handshake to a host
    both use).  The client stays its owner's: closing MSAL's side leaves it open."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def post(
        self,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        **kwargs: Any,
    ) -> Any:
        # MSAL sends a form as a dict, anything else as a ready string
        body = {"content": data} if isinstance(data, str | bytes) else {"data": data}
        timeout = kwargs.get("timeout") or MSAL_TIMEOUT_SECONDS
        return self._client.post(url, params=params, headers=headers, timeout=timeout, **body)

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        timeout = kwargs.get("timeout") or MSAL_TIMEOUT_SECONDS
        return self._client.get(url, params=params, headers=headers, timeout=timeout)

    def close(self) -> None:
        return None


MSAL_TIMEOUT_SECONDS = 30


def _session_trusting(ca_file: str) -> Any:
    """A requests session for MSAL that trusts `ca_file` besides the system store.

    MSAL sets ``session.verify``, but requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
    override a session's verify on every request, so with those set (as on many
    machines) a sandbox's CA would be ignored; an SSL context on the adapter is not.
    """
    import requests
    from requests.adapters import HTTPAdapter

    from graphpost.tls import trust

    context = trust(ca_file)

    class TrustingAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = context
            super().init_poolmanager(*args, **kwargs)

    class TimedSession(requests.Session):
        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", MSAL_TIMEOUT_SECONDS)
            return super().request(method, url, *args, **kwargs)

    session = TimedSession()
    # the same single retry on connection errors that MSAL gives its own session
    adapter = TrustingAdapter(max_retries=1)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def build_public_app(
    settings: Settings,
    cache: msal.TokenCache | None = None,
    *,
    http_cache: MutableMapping[Any, Any] | None = None,
) -> msal.PublicClientApplication:
    """A public client (CLI: browser with PKCE, device code)."""
    import msal

    return msal.PublicClientApplication(
        settings.client_id, **_common_options(settings, cache, http_cache)
    )


def build_confidential_app(
    settings: Settings,
    cache: msal.TokenCache | None = None,
    *,
    http_cache: MutableMapping[Any, Any] | None = None,
    http_client: Any = None,
) -> msal.ConfidentialClientApplication:
    """A confidential client with the client secret (web app, daemon).  `http_client`, an
    ``httpx.Client``, carries MSAL's requests instead of a requests session of its own."""
    import msal

    options = _common_options(settings, cache, http_cache, http_client)
    if not settings.client_secret:
        raise ConfigError(
            "this app signs in with a client secret: set GRAPHPOST_CLIENT_SECRET "
            "(or GRAPHPOST_SANDBOX to a sandbox folder)"
        )
    return msal.ConfidentialClientApplication(
        settings.client_id, client_credential=settings.client_secret, **options
    )


def _token_from(result: Mapping[str, Any] | None, settings: Settings) -> str:
    if result and "access_token" in result:
        return str(result["access_token"])
    raise AuthError.from_result(
        result or {"error": "no_token", "error_description": "MSAL returned no token"},
        secrets=(settings.client_secret,),
    )


def app_token(settings: Settings, cache: msal.TokenCache | None = None) -> str:
    """An app-only access token (client credentials) for Graph; raises `AuthError`.

    With a `cache`, MSAL reuses a token until it is close to expiry.
    """
    app = build_confidential_app(settings, cache)
    return _token_from(app.acquire_token_for_client(scopes=[graph_scope(settings)]), settings)


class AppTokenProvider:
    """A ``token`` callable for `Graph`: app-only tokens, reused by MSAL until near expiry.

    `http_client` (an ``httpx.Client``, Graph's own in `Graph.from_env`) carries MSAL's requests.
    """

    def __init__(self, settings: Settings, http_client: Any = None) -> None:
        self._settings = settings
        self._http_client = http_client
        self._app: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AppTokenProvider(client_id={self._settings.client_id!r})"

    def __call__(self) -> str:
        with self._lock:
            if self._app is None:
                self._app = build_confidential_app(self._settings, http_client=self._http_client)
            result = self._app.acquire_token_for_client(scopes=[graph_scope(self._settings)])
        return _token_from(result, self._settings)

    def invalidate(self) -> None:
        """Forget the cached token (Graph refused it: revoked, or expired early), so the next
        call asks Entra ID for a new one."""
        with self._lock:
            if self._app is not None:
                self._app.remove_tokens_for_client()


class AuthCodeFlow:
    """The web app's sign-in: auth code with PKCE, state and nonce (all kept by MSAL in the flow dict).

    ``start`` gives the URL to send the browser to and the flow state to keep in the
    server-side session; ``finish`` redeems the code from the redirect's query.
    """

    def __init__(self, app: Any, secrets: Sequence[str | None] = ()) -> None:
        self.app = app
        self._secrets = tuple(secrets)

    @classmethod
    def from_settings(
        cls, settings: Settings, cache: msal.TokenCache | None = None
    ) -> AuthCodeFlow:
        return cls(build_confidential_app(settings, cache), secrets=(settings.client_secret,))

    def start(
        self,
        scopes: Sequence[str],
        redirect_uri: str,
        login_hint: str | None = None,
        response_mode: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """`response_mode` None means ``query`` (the code comes back in a GET); ``form_post``
        is safer against leaks in logs but needs a session cookie sent on a cross-site POST."""
        options: dict[str, Any] = {"redirect_uri": redirect_uri, "login_hint": login_hint}
        if response_mode is not None:
            options["response_mode"] = response_mode
        with warnings.catch_warnings():
            # MSAL warns unless form_post; query is a deliberate choice: a form_post answer is a
            # cross-site POST, which does not carry a SameSite=Lax session cookie, and the code it
            # carries is single-use and bound to this flow's PKCE verifier
            warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
            flow: dict[str, Any] = self.app.initiate_auth_code_flow(list(scopes), **options)
        return str(flow["auth_uri"]), flow

    def finish(
        self, flow_state: Mapping[str, Any] | None, query_params: Mapping[str, str]
    ) -> dict[str, Any]:
        """The token result (``access_token``, ``id_token_claims``...) or `AuthError` with a `kind`:

        ``ACCESS_DENIED`` (consent declined), ``STATE_MISMATCH`` (not the sign-in this
        session started), ``CODE_EXPIRED`` (AADSTS70008, 70000 or 54005), and others.
        """
        query = dict(query_params)
        if not flow_state:
            raise AuthError(
                "state_mismatch",
                "this sign-in answer does not belong to a sign-in started in this session",
                kind=AuthFailure.STATE_MISMATCH,
            )
        try:
            result = self.app.acquire_token_by_auth_code_flow(dict(flow_state), query)
        except ValueError:
            # MSAL: the state is missing or not the one this flow sent (its text holds both states)
            raise AuthError(
                "state_mismatch",
                "this sign-in answer does not belong to the sign-in this session started",
                kind=AuthFailure.STATE_MISMATCH,
            ) from None
        except RuntimeError:
            # MSAL: the ID token's nonce is not ours (a replayed answer)
            raise AuthError(
                "invalid_response",
                "the ID token does not match this sign-in (nonce)",
                kind=AuthFailure.INVALID_RESPONSE,
            ) from None
        if not result or "error" in result or "access_token" not in result:
            raise AuthError.from_result(result or {"error": "no_token"}, secrets=self._secrets)
        return dict(result)


class PublicSignIn:
    """Delegated sign-in for a command line or desktop app (a public client, no secret).

    ``device_code()`` (sign in on another device) or ``browser()`` (auth code with PKCE on a
    loopback redirect, MSAL's interactive flow) sign a person in once; afterwards ``token()``
    answers from the cache, refreshing silently.  Tokens live in a `FileTokenCache` (mode 0600,
    replaced atomically, under a lock that a crashed holder does not keep), by default
    ``<GRAPHPOST_HOME>/tokens-public.json``.  An instance is a ``token`` source for `Graph`:
    ``Graph(PublicSignIn(settings))``.  Nothing here logs or raises a token or a code.
    """

    def __init__(
        self,
        settings: Settings,
        cache: FileTokenCache | None = None,
        scopes: Sequence[str] = DELEGATED_SCOPES,
        username: str | None = None,
    ) -> None:
        from graphpost.tokencache import FileTokenCache

        self.settings = settings
        self.scopes = list(scopes)
        self.username = username
        self.cache = cache or FileTokenCache(Path(settings.home) / "tokens-public.json")
        self._app: Any = None
        self._lock = threading.Lock()
        self._refresh = False  # set by `invalidate`: the cached access token was refused

    def __repr__(self) -> str:
        return f"PublicSignIn(client_id={self.settings.client_id!r}, cache={self.cache!r})"

    @property
    def app(self) -> msal.PublicClientApplication:
        if self._app is None:
            self._app = build_public_app(self.settings, self.cache)
        return self._app

    def accounts(self) -> list[dict[str, Any]]:
        """The signed-in accounts in the cache (``username``, ``home_account_id``...)."""
        found: list[dict[str, Any]] = self.app.get_accounts(username=self.username)
        return found

    def device_code(
        self, show: Callable[[str], None], timeout: float | None = None
    ) -> dict[str, Any]:
        """Sign in with a code typed on another device: `show` gets the text to show the person
        (where to go, which code); returns the token result once they have signed in."""
        flow = self.app.initiate_device_flow(scopes=self.scopes)
        if "user_code" not in flow:
            raise AuthError.from_result(flow)
        show(str(flow["message"]))
        if timeout is not None:
            flow["expires_at"] = min(float(flow["expires_at"]), time.time() + timeout)
        return self._kept(self.app.acquire_token_by_device_flow(flow))

    def browser(
        self,
        open_url: Callable[[str], None] | None = None,
        port: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Sign in in the browser: auth code with PKCE, answered on ``http://localhost:<port>``
        (any free port unless given).  `open_url` replaces opening the system browser (a test,
        or printing the URL over SSH)."""
        options: dict[str, Any] = {"port": port, "timeout": timeout, "prompt": "select_account"}
        if self.username:
            options["login_hint"] = self.username
        if open_url is not None:
            options["auth_uri_callback"] = open_url
        return self._kept(self.app.acquire_token_interactive(self.scopes, **options))

    def token(self, force_refresh: bool = False) -> str:
        """An access token for the signed-in person, from the cache or refreshed silently;
        `AuthError` (kind ``interaction_required``) when they must sign in again."""
        with self._lock:
            accounts = self.accounts()
            if not accounts:
                raise AuthError(
                    "interaction_required",
                    "nobody is signed in: sign in first (graphpost login)",
                    kind=AuthFailure.INTERACTION_REQUIRED,
                )
            result = self.app.acquire_token_silent_with_error(
                self.scopes, account=accounts[0], force_refresh=force_refresh or self._refresh
            )
            self._refresh = False
            if result is None:
                raise AuthError(
                    "interaction_required",
                    "the sign-in has expired: sign in again",
                    kind=AuthFailure.INTERACTION_REQUIRED,
                )
            return _token_from(self._kept(result), self.settings)

    __call__ = token

    def invalidate(self) -> None:
        """Graph refused the token (revoked, or expired early): the next one is fetched afresh
        with the refresh token."""
        self._refresh = True

    def sign_out(self) -> None:
        """Forget every account and token of this cache (the file goes too)."""
        for account in self.app.get_accounts():
            self.app.remove_account(account)
        self.cache.clear()

    def _kept(self, result: Mapping[str, Any] | None) -> dict[str, Any]:
        """`result` when it holds a token (the cache saved), else `AuthError` without secrets."""
        if not result or "access_token" not in result:
            raise AuthError.from_result(result or {"error": "no_token"})
        self.cache.save()
        return dict(result)
