"""Graph's gate: bearer token checks (signature, audience, issuer, lifetime) and permissions.

Graph knows Entra ID only by its published signing keys, as the real one does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jwt
from flask import request

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import GRAPH_APP_ID, GRAPH_RESOURCE, User
from graphpost.sandbox.graph.wire import GraphError

CLOCK_SKEW_SECONDS = 300

# Which workload answers, and how it spells "forbidden"
FORBIDDEN = {
    "directory": (
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    ),
    "outlook": ("ErrorAccessDenied", "Access is denied. Check credentials and try again."),
    "onedrive": ("accessDenied", "Access denied"),
}


@dataclass(frozen=True)
class Principal:
    """Who calls: a person through an app (delegated) or an app alone."""

    client_id: str
    app_name: str
    user_id: str | None
    scopes: frozenset[str]
    roles: frozenset[str]

    @property
    def delegated(self) -> bool:
        return self.user_id is not None


def _unauthorized(sb: Sandbox, message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        {
            "WWW-Authenticate": f'Bearer realm="", authorization_uri="{sb.base_url}/common/oauth2/authorize",'
            f' client_id="{GRAPH_APP_ID}"'
        },
    )


_KEYS: dict[str, jwt.PyJWK] = {}


def _verification_key(sb: Sandbox) -> jwt.PyJWK:
    """The published signing key, parsed once per key id (parsing it costs more than verifying)."""
    key = _KEYS.get(sb.signing_key.kid)
    if key is None:
        key = _KEYS[sb.signing_key.kid] = jwt.PyJWK(sb.signing_key.jwk(""))
    return key


def authenticate(sb: Sandbox) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header or not token.strip():
        raise _unauthorized(sb, "Access token is empty.")
    if scheme.lower() != "bearer" or token.count(".") != 2:
        raise _unauthorized(sb, "CompactToken parsing failed with error code: 80049217")
    claims = _signed_claims(sb, token)
    if claims.get("aud") not in (GRAPH_APP_ID, GRAPH_RESOURCE, GRAPH_RESOURCE + "/"):
        raise _unauthorized(sb, "Access token validation failure. Invalid audience.")
    if claims.get("iss") != f"https://sts.windows.net/{sb.tenant_id}/":
        raise _unauthorized(sb, "Access token validation failure. Invalid issuer.")
    # lifetime against the sandbox's clock, which tests may move
    now = sb.clock.now()
    if not (
        claims.get("nbf", 0) - CLOCK_SKEW_SECONDS
        <= now
        <= claims.get("exp", 0) + CLOCK_SKEW_SECONDS
    ):
        raise _unauthorized(sb, "Access token has expired or is not yet valid.")
    delegated = claims.get("idtyp") != "app" and "scp" in claims
    return Principal(
        client_id=str(claims.get("appid", "")),
        app_name=str(claims.get("app_displayname", "")),
        user_id=str(claims["oid"]) if delegated else None,
        scopes=frozenset(str(claims.get("scp", "")).split()),
        roles=frozenset(claims.get("roles", [])),
    )


VERIFIED_TOKENS_KEPT = 4096


@functools.lru_cache(maxsize=VERIFIED_TOKENS_KEPT)
def _verify(token: str, kid: str, key: jwt.PyJWK) -> dict[str, Any] | str:
    """The claims of a token whose signature `key` verifies, or why it does not; a client sends
    the same token many times, and checking it costs more than most requests."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return "CompactToken parsing failed with error code: 80049217"
    if header.get("kid") != kid:
        return "Access token validation failure. Invalid x5t claim."
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
            },
        )
    except jwt.PyJWTError:
        return "Access token validation failure."
    return claims


def _signed_claims(sb: Sandbox, token: str) -> dict[str, Any]:
    outcome = _verify(token, sb.signing_key.kid, _verification_key(sb))
    if isinstance(outcome, str):
        raise _unauthorized(sb, outcome)
    return outcome


def require(
    principal: Principal,
    workload: str,
    *,
    delegated: set[str],
    application: set[str],
) -> None:
    """403 in the workload's spelling unless the token carries one of the permissions."""
    granted = principal.scopes if principal.delegated else principal.roles
    allowed = delegated if principal.delegated else application
    if granted & allowed:
        return
    code, message = FORBIDDEN[workload]
    raise GraphError(403, code, message)


def resolve_owner(sb: Sandbox, principal: Principal, segment: str, workload: str) -> User:
    """The user named by `me` or `users/{id | userPrincipalName | ('upn')}`."""
    if segment == "me":
        if not principal.delegated:
            raise GraphError(
                400, "BadRequest", "/me request is only valid with delegated authentication flow."
            )
        user = sb.directory.user(str(principal.user_id))
        if user is None:
            raise GraphError(
                404, "Request_ResourceNotFound", "The signed-in user no longer exists."
            )
        return user
    key = segment.split("/", 1)[1]
    if key.startswith("(") and key.endswith(")"):
        key = key[1:-1].strip("'")
    user = sb.directory.user(key)
    if user is not None:
        return user
    if workload == "outlook":
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
    if workload == "onedrive":
        raise GraphError(404, "itemNotFound", "The resource could not be found.")
    raise GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
    )


def is_self(principal: Principal, user: User) -> bool:
    return principal.user_id == user.id
