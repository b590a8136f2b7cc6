"""Entra ID's grants as state and rules: scopes and consent, codes, refresh tokens, device codes.

Nothing here speaks HTTP; the endpoints in this package turn the results and
`EntraError`s into Entra's responses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import (
    DELEGATED_PERMISSIONS,
    GRAPH_APP_ID,
    GRAPH_RESOURCE,
    OIDC_SCOPES,
    App,
    User,
    canonical_permission,
)
from graphpost.sandbox.identity import tokens
from graphpost.sandbox.identity.errors import EntraError
from graphpost.sandbox.identity.keys import b64url

CODE_SECONDS = 600  # authorization codes live about ten minutes
REFRESH_INACTIVE_SECONDS = 90 * 24 * 3600
DEVICE_CODE_SECONDS = 900
DEVICE_CODE_INTERVAL = 5
_GRAPH_PREFIXES = (GRAPH_RESOURCE.lower() + "/", GRAPH_APP_ID + "/")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Scopes:
    """A parsed `scope` parameter: Graph permissions, OpenID scopes, and whether `.default` was asked."""

    graph: frozenset[str] = frozenset()
    oidc: frozenset[str] = frozenset()
    default: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> Scopes:
        if not raw or not raw.strip():
            raise EntraError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        graph: set[str] = set()
        oidc: set[str] = set()
        default = False
        for item in raw.split():
            if item.lower() in OIDC_SCOPES:
                oidc.add(item.lower())
                continue
            name = item
            for prefix in _GRAPH_PREFIXES:
                if item.lower().startswith(prefix):
                    name = item[len(prefix) :]
                    break
            else:
                if "/" in item and not item.startswith(".default"):
                    raise EntraError(
                        "invalid_resource",
                        500011,
                        f"The resource principal named {item.rsplit('/', 1)[0]} was not found in"
                        " the tenant. This can happen if the application has not been installed"
                        " by the administrator of the tenant or consented to by any user in the"
                        " tenant. You might have sent your authentication request to the wrong"
                        " tenant.",
                    )
            if name == ".default":
                default = True
                continue
            canonical = canonical_permission(name)
            if canonical is None:
                raise EntraError(
                    "invalid_scope",
                    70011,
                    f"The provided value for the input parameter 'scope' isn't valid. The scope"
                    f" {item} isn't valid.",
                )
            graph.add(canonical)
        return cls(frozenset(graph), frozenset(oidc), default)

    def wanted(self, app: App) -> set[str]:
        """The delegated Graph permissions this request needs consent for."""
        if self.default:
            return {p for p in app.delegated_permissions if p in DELEGATED_PERMISSIONS}
        return set(self.graph)

    def as_list(self) -> list[str]:
        return sorted(self.graph) + sorted(self.oidc) + ([".default"] if self.default else [])

    @classmethod
    def from_list(cls, items: list[str]) -> Scopes:
        return cls.parse(" ".join(items))


def missing_consent(sb: Sandbox, app: App, user: User, scopes: Scopes) -> set[str]:
    return scopes.wanted(app) - sb.directory.consented(app.client_id, user.id)


def consent_required(app: App) -> EntraError:
    return EntraError(
        "invalid_grant",
        65001,
        f"The user or administrator has not consented to use the application with ID"
        f" '{app.client_id}' named '{app.display_name}'. Send an interactive authorization request"
        " for this user and resource.",
        suberror="consent_required",
    )


@dataclass
class UserGrant:
    """Who signed in to which app, and what the request asked for."""

    app: App
    user: User
    scopes: Scopes
    auth_time: int
    nonce: str | None = None
    session_id: str = field(default_factory=tokens.new_session_id)


def user_token_response(sb: Sandbox, grant: UserGrant, *, client_info: bool) -> dict[str, Any]:
    """The token endpoint's success JSON for a person: access token, and ID/refresh tokens when asked."""
    consented = sb.directory.consented(grant.app.client_id, grant.user.id)
    missing = grant.scopes.wanted(grant.app) - consented
    if missing:
        raise consent_required(grant.app)
    # Entra puts every permission consented for the resource in the token, not only those asked
    graph_scopes = sorted(p for p in consented if p in DELEGATED_PERMISSIONS)
    scp = graph_scopes + [s for s in ("profile", "openid", "email") if s in grant.scopes.oidc]
    access = tokens.user_access_token(
        sb, grant.app, grant.user, scp, grant.auth_time, grant.session_id
    )
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": " ".join(scp),
        "expires_in": tokens.ACCESS_TOKEN_SECONDS,
        "ext_expires_in": tokens.ACCESS_TOKEN_SECONDS,
        "access_token": access,
    }
    if "offline_access" in grant.scopes.oidc:
        body["refresh_token"] = issue_refresh_token(sb, grant)
    if "openid" in grant.scopes.oidc:
        body["id_token"] = tokens.id_token(
            sb,
            grant.app,
            grant.user,
            nonce=grant.nonce,
            auth_time=grant.auth_time,
            session_id=grant.session_id,
            with_email="email" in grant.scopes.oidc,
        )
    if client_info and grant.scopes.oidc & {"openid", "profile"}:
        body["client_info"] = tokens.client_info(sb, grant.user)
    return body


def app_token_response(sb: Sandbox, app: App, raw_scope: str | None) -> dict[str, Any]:
    if not raw_scope or not raw_scope.strip().lower().endswith("/.default"):
        raise EntraError(
            "invalid_scope",
            1002012,
            f"The provided value for scope {raw_scope} is not valid. Client credential flows must"
            " have a scope value with /.default suffixed to the resource identifier"
            " (application ID URI).",
        )
    Scopes.parse(raw_scope)  # rejects resources other than Graph
    return {
        "token_type": "Bearer",
        "expires_in": tokens.ACCESS_TOKEN_SECONDS,
        "ext_expires_in": tokens.ACCESS_TOKEN_SECONDS,
        "access_token": tokens.app_access_token(sb, app, app.app_roles),
    }


def _grant_from(sb: Sandbox, app: App, row: Any, nonce: str | None = None) -> UserGrant:
    """The grant a redeemed code (authorization or device) stands for."""
    user = sb.directory.user(row["user_id"])
    if user is None:
        raise EntraError(
            "invalid_grant", 50034, "The user account does not exist in the directory."
        )
    return UserGrant(
        app=app,
        user=user,
        scopes=Scopes.from_list(json.loads(row["scopes"])),
        auth_time=row["auth_time"],
        nonce=nonce,
    )


# authorization codes


def issue_code(
    sb: Sandbox,
    grant: UserGrant,
    redirect_uri: str,
    code_challenge: str | None,
    code_challenge_method: str | None,
) -> str:
    code = "1.A" + b64url(secrets.token_bytes(64))
    with sb.store.transaction() as db:
        db.execute(
            "INSERT INTO auth_codes (code_hash, client_id, user_id, redirect_uri, scopes,"
            " code_challenge, code_challenge_method, nonce, auth_time, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                digest(code),
                grant.app.client_id,
                grant.user.id,
                redirect_uri,
                json.dumps(grant.scopes.as_list()),
                code_challenge,
                code_challenge_method,
                grant.nonce,
                grant.auth_time,
                sb.clock.now(),
            ),
        )
    return code


def redeem_code(
    sb: Sandbox, app: App, code: str, redirect_uri: str | None, code_verifier: str | None
) -> UserGrant:
    with sb.store.transaction() as db:
        row = db.execute("SELECT * FROM auth_codes WHERE code_hash = ?", (digest(code),)).fetchone()
        if row is None or row["client_id"].lower() != app.client_id.lower():
            raise EntraError(
                "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            )
        if row["redeemed"] is not None:
            raise EntraError(
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code"
                " or use an existing refresh token.",
            )
        # a code is spent by any redemption attempt, as Entra does
        db.execute(
            "UPDATE auth_codes SET redeemed = ? WHERE code_hash = ?", (sb.clock.now(), digest(code))
        )
    if sb.clock.now() - row["created"] > CODE_SECONDS:
        raise EntraError(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity."
            " Send a new interactive authorization request for this user and resource.",
        )
    if redirect_uri != row["redirect_uri"]:
        raise EntraError(
            "invalid_grant",
            500112,
            f"The reply address '{redirect_uri}' does not match the reply address"
            f" '{row['redirect_uri']}' provided when requesting Authorization code.",
        )
    challenge = row["code_challenge"]
    if challenge:
        if not code_verifier:
            raise EntraError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'code_verifier'.",
            )
        if (row["code_challenge_method"] or "plain").upper() == "S256":
            computed = b64url(hashlib.sha256(code_verifier.encode()).digest())
        else:
            computed = code_verifier
        if not hmac.compare_digest(computed, challenge):
            raise EntraError(
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization"
                " request.",
            )
    return _grant_from(sb, app, row, nonce=row["nonce"])


# refresh tokens


def issue_refresh_token(sb: Sandbox, grant: UserGrant) -> str:
    token = "1.A" + b64url(secrets.token_bytes(96))
    with sb.store.transaction() as db:
        db.execute(
            "INSERT INTO refresh_tokens (token_hash, client_id, user_id, scopes, auth_time, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                digest(token),
                grant.app.client_id,
                grant.user.id,
                json.dumps(grant.scopes.as_list()),
                grant.auth_time,
                sb.clock.now(),
            ),
        )
    return token


def redeem_refresh_token(sb: Sandbox, app: App, token: str, raw_scope: str | None) -> UserGrant:
    row = sb.store.query_one("SELECT * FROM refresh_tokens WHERE token_hash = ?", digest(token))
    if row is None or row["revoked"] or row["client_id"].lower() != app.client_id.lower():
        raise EntraError(
            "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
        )
    if sb.clock.now() - row["created"] > REFRESH_INACTIVE_SECONDS:
        raise EntraError(
            "invalid_grant",
            700082,
            "The refresh token has expired due to inactivity. The token was issued on"
            f" {row['created']} and was inactive for 90.00:00:00.",
        )
    user = sb.directory.user(row["user_id"])
    if user is None:
        raise EntraError(
            "invalid_grant", 50034, "The user account does not exist in the directory."
        )
    scopes = Scopes.parse(raw_scope) if raw_scope else Scopes.from_list(json.loads(row["scopes"]))
    # a new refresh token is issued; the old one stays valid, as Entra does
    return UserGrant(app=app, user=user, scopes=scopes, auth_time=row["auth_time"])


def revoke_user_sessions(sb: Sandbox, user_id: str) -> None:
    with sb.store.transaction() as db:
        db.execute("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ?", (user_id,))


# device codes

_USER_CODE_ALPHABET = string.ascii_uppercase + string.digits


def issue_device_code(sb: Sandbox, app: App, scopes: Scopes) -> tuple[str, str]:
    device_code = "DAQABAAEAAA" + b64url(secrets.token_bytes(48))
    user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9))
    now = sb.clock.now()
    with sb.store.transaction() as db:
        db.execute(
            "INSERT INTO device_codes (device_code_hash, user_code, client_id, scopes, created, expires)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                digest(device_code),
                user_code,
                app.client_id,
                json.dumps(scopes.as_list()),
                now,
                now + DEVICE_CODE_SECONDS,
            ),
        )
    return device_code, user_code


def pending_device_code(sb: Sandbox, user_code: str) -> dict[str, Any] | None:
    """The still-pending request behind a code a person typed, if any."""
    row = sb.store.query_one(
        "SELECT * FROM device_codes WHERE user_code = ? AND status = 'pending' AND expires > ?",
        user_code.strip().upper().replace("-", ""),
        sb.clock.now(),
    )
    return None if row is None else dict(row)


def settle_device_code(sb: Sandbox, user_code: str, user: User | None, auth_time: int) -> None:
    """The person approved (with `user`) or declined (`None`) the device's request."""
    with sb.store.transaction() as db:
        db.execute(
            "UPDATE device_codes SET status = ?, user_id = ?, auth_time = ? WHERE user_code = ?",
            ("approved" if user else "declined", user.id if user else None, auth_time, user_code),
        )


def redeem_device_code(sb: Sandbox, app: App, device_code: str) -> UserGrant:
    with sb.store.transaction() as db:
        row = db.execute(
            "SELECT * FROM device_codes WHERE device_code_hash = ?", (digest(device_code),)
        ).fetchone()
        if row is None or row["client_id"].lower() != app.client_id.lower() or row["redeemed"]:
            raise EntraError(
                "bad_verification_code",
                70018,
                "Invalid verification code entered, or the code was already used.",
            )
        if sb.clock.now() > row["expires"]:
            raise EntraError(
                "expired_token", 70019, "Verification code expired. The device code has expired."
            )
        if row["status"] == "pending":
            raise EntraError(
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        if row["status"] == "declined":
            raise EntraError(
                "authorization_declined", 70000, "The user declined to authorize the application."
            )
        db.execute(
            "UPDATE device_codes SET redeemed = ? WHERE device_code_hash = ?",
            (sb.clock.now(), digest(device_code)),
        )
    return _grant_from(sb, app, row)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """client_id and secret from an HTTP Basic Authorization header (client_secret_basic)."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:]).decode()
    except ValueError:
        return None
    client_id, _, secret = decoded.partition(":")
    from urllib.parse import unquote_plus

    return unquote_plus(client_id), unquote_plus(secret)
