"""Who is signed in, and a Graph client with their token: MSAL with a per-user cache in the store."""

from __future__ import annotations

from typing import Any

import httpx
import msal
from flask import current_app, g, session

from graphpost.auth import DELEGATED_SCOPES, build_confidential_app
from graphpost.client import Graph
from graphpost.config import Settings
from graphpost.core.retry import RetryPolicy
from graphpost.web.account import Profile, UserSettings, read_settings
from graphpost.web.store import Store

# the library's delegated scopes, and User.ReadWrite: the settings are an open extension on the
# user, which Graph lets a delegated app write only with it (User.Read reads it)
SCOPES = [*DELEGATED_SCOPES, "User.ReadWrite"]
TOKEN_CACHE_SECONDS = 90 * 24 * 3600
# a person is waiting: retry briefly, never sleep long inside a request
WEB_RETRY = RetryPolicy(max_attempts=2, max_retry_after=5)


class SignInRequired(Exception):
    """No signed-in user, or their tokens can no longer be refreshed silently."""


def settings() -> Settings:
    value: Settings = current_app.extensions["graphpost"]["settings"]
    return value


def store() -> Store:
    value: Store = current_app.extensions["graphpost"]["store"]
    return value


_HTTP_CACHE: dict[Any, Any] = {}  # MSAL's cache of discovery documents, shared by all requests


def _cache_key(home_account_id: str) -> str:
    return f"web:tokencache:{home_account_id}"


def new_cache() -> msal.SerializableTokenCache:
    return msal.SerializableTokenCache()


def rotate_session() -> None:
    """A new session id after sign-in, so an id planted in the browser before it is worth nothing."""
    regenerate = getattr(session, "regenerate", None)
    if regenerate is not None:
        regenerate()


def load_cache(home_account_id: str) -> msal.SerializableTokenCache:
    cache = new_cache()
    raw = store().get(_cache_key(home_account_id))
    if raw:
        cache.deserialize(raw)
    return cache


def save_cache(home_account_id: str, cache: msal.SerializableTokenCache) -> None:
    if cache.has_state_changed:
        store().set(_cache_key(home_account_id), cache.serialize(), TOKEN_CACHE_SECONDS)


def forget_user(home_account_id: str) -> None:
    store().delete(_cache_key(home_account_id))


def msal_app(cache: msal.SerializableTokenCache | None = None) -> Any:
    """An MSAL app for this request's token cache, over the app's shared connection pool (no
    new TLS context or connection for each page)."""
    return build_confidential_app(
        settings(), cache, http_cache=_HTTP_CACHE, http_client=http_client()
    )


def http_client() -> httpx.Client:
    """The app's one connection pool to Graph, shared by every request (no new TLS handshake
    for each page)."""
    value: httpx.Client = current_app.extensions["graphpost"]["http"]
    return value


def current_user() -> dict[str, str] | None:
    user = session.get("user")
    return dict(user) if isinstance(user, dict) else None


def profile() -> Profile:
    user = current_user()
    if user is None:
        raise SignInRequired
    return Profile.from_values(user)


def user_settings() -> UserSettings:
    """The person's settings: the session's copy, read from Graph when the session has none."""
    kept = session.get("settings")
    if isinstance(kept, dict):
        return UserSettings.from_values(kept)
    loaded = read_settings(graph())
    remember_settings(loaded)
    return loaded


def remember_settings(settings: UserSettings) -> None:
    session["settings"] = settings.to_values()


def graph_for(token: str) -> Graph:
    current = settings()
    return Graph(
        token,
        graph_url=current.graph_url,
        http_client=http_client(),
        retry=WEB_RETRY,
        state_dir=current.home / "uploads",
    )


def access_token() -> str:
    graph()
    token: str = g.access_token
    return token


def graph() -> Graph:
    """A Graph client acting as the signed-in user (one per request, closed at its end); their
    token is refreshed silently when needed."""
    if "graph" in g:
        existing: Graph = g.graph
        return existing
    user = current_user()
    if user is None:
        raise SignInRequired
    return graph_as(user["home_account_id"])


def graph_as(home: str) -> Graph:
    """A Graph client acting as the account `home` (an MSAL home account id) with a token from its
    cache, for this request (`graph()` and `access_token()` then answer with it)."""
    cache = load_cache(home)
    app = msal_app(cache)
    account = next((a for a in app.get_accounts() if a.get("home_account_id") == home), None)
    result = app.acquire_token_silent(SCOPES, account=account) if account else None
    save_cache(home, cache)
    if not result or "access_token" not in result:
        raise SignInRequired
    client = graph_for(result["access_token"])
    g.graph = client
    g.access_token = result["access_token"]
    return client


def close_graph(_: BaseException | None = None) -> None:
    client = g.pop("graph", None)
    if client is not None:
        client.close()
