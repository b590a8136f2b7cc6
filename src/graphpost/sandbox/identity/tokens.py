"""The tokens Entra ID issues, claim for claim: v1.0 Graph access tokens and v2.0 ID tokens."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from typing import Any

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import GRAPH_APP_ID, GRAPH_RESOURCE, App, User
from graphpost.sandbox.identity.keys import b64url

ACCESS_TOKEN_SECONDS = 3599
ID_TOKEN_SECONDS = 3600


def v1_issuer(tenant_id: str) -> str:
    return f"https://sts.windows.net/{tenant_id}/"


def v2_issuer(sb: Sandbox) -> str:
    return f"{sb.base_url}/{sb.tenant_id}/v2.0"


def pairwise_subject(user: User, app: App) -> str:
    """Entra's `sub` differs per app for the same person."""
    digest = hashlib.sha256(f"{user.id}|{app.client_id}".encode()).digest()
    return b64url(digest)[:43]


def _opaque(length: int = 24) -> str:
    return b64url(secrets.token_bytes(length))


def _common(sb: Sandbox, app: App, lifetime: int) -> dict[str, Any]:
    now = int(sb.clock.now())
    return {
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "aio": _opaque(40),
        "rh": "0." + _opaque(30),
        "tid": sb.tenant_id,
        "uti": _opaque(16),
        "app_displayname": app.display_name,
        "appid": app.client_id,
    }


def user_access_token(
    sb: Sandbox, app: App, user: User, scp: list[str], auth_time: int, session_id: str
) -> str:
    claims = _common(sb, app, ACCESS_TOKEN_SECONDS)
    claims.update(
        {
            "aud": GRAPH_APP_ID,
            "iss": v1_issuer(sb.tenant_id),
            "acct": 0,
            "acr": "1",
            "amr": ["pwd"],
            "appidacr": "0" if app.is_public else "1",
            "auth_time": auth_time,
            "family_name": user.surname,
            "given_name": user.given_name,
            "idtyp": "user",
            "ipaddr": "127.0.0.1",
            "name": user.display_name,
            "oid": user.id,
            "platf": "3",
            "puid": hashlib.sha256(user.id.encode()).hexdigest()[:16].upper(),
            "scp": " ".join(scp),
            "sid": session_id,
            "sub": pairwise_subject(user, app),
            "tenant_region_scope": "EU",
            "unique_name": user.upn,
            "upn": user.upn,
            "ver": "1.0",
            "wids": ["b79fbf4d-3ef9-4689-8143-76b194e85509"],
            "xms_st": {"sub": pairwise_subject(user, app)},
            "xms_tcdt": 1700000000,
        }
    )
    return sb.signing_key.sign(claims, x5t=True)


def app_access_token(sb: Sandbox, app: App, roles: list[str]) -> str:
    claims = _common(sb, app, ACCESS_TOKEN_SECONDS)
    claims.update(
        {
            "aud": GRAPH_RESOURCE,
            "iss": v1_issuer(sb.tenant_id),
            "appidacr": "1",
            "idp": v1_issuer(sb.tenant_id),
            "idtyp": "app",
            "oid": app.service_principal_id,
            "sub": app.service_principal_id,
            "tenant_region_scope": "EU",
            "ver": "1.0",
            "wids": ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"],
        }
    )
    if roles:  # Entra leaves the claim out when no app role is granted
        claims["roles"] = roles
    return sb.signing_key.sign(claims, x5t=True)


def id_token(
    sb: Sandbox,
    app: App,
    user: User,
    *,
    nonce: str | None,
    auth_time: int,
    session_id: str,
    with_email: bool,
) -> str:
    claims = _common(sb, app, ID_TOKEN_SECONDS)
    for v1_only in ("app_displayname", "appid"):
        del claims[v1_only]
    claims.update(
        {
            "aud": app.client_id,
            "iss": v2_issuer(sb),
            "auth_time": auth_time,
            "name": user.display_name,
            "oid": user.id,
            "preferred_username": user.upn,
            "sid": session_id,
            "sub": pairwise_subject(user, app),
            "ver": "2.0",
        }
    )
    if nonce is not None:
        claims["nonce"] = nonce
    if with_email and user.mail:
        claims["email"] = user.mail
    return sb.signing_key.sign(claims, x5t=False)


def client_info(sb: Sandbox, user: User) -> str:
    """What MSAL builds the account's home_account_id from (`uid.utid`)."""
    return b64url(json.dumps({"uid": user.id, "utid": sb.tenant_id}).encode())


def new_session_id() -> str:
    return str(uuid.uuid4())
