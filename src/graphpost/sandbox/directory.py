"""The tenant's directory: users, app registrations and consent grants (state and rules, no HTTP).

Both sides of the sandbox read it: Entra ID signs people and apps in against it,
Graph serves `/users` from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from graphpost.sandbox.passwords import check_secret
from graphpost.sandbox.store import Store

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_RESOURCE = "https://graph.microsoft.com"
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")

# Graph permissions the sandbox knows; the names are Microsoft's.
DELEGATED_PERMISSIONS = frozenset(
    {
        "User.Read",
        "User.ReadWrite",
        "User.ReadBasic.All",
        "User.Read.All",
        "Mail.ReadBasic",
        "Mail.Read",
        "Mail.ReadWrite",
        "Mail.Send",
        "Files.Read",
        "Files.ReadWrite",
        "Files.Read.All",
        "Files.ReadWrite.All",
    }
)
APPLICATION_PERMISSIONS = frozenset(
    {
        "User.Read.All",
        "User.ReadWrite.All",
        "Mail.ReadBasic.All",
        "Mail.Read",
        "Mail.ReadWrite",
        "Mail.Send",
        "Files.Read.All",
        "Files.ReadWrite.All",
    }
)
_CANONICAL = {name.lower(): name for name in DELEGATED_PERMISSIONS | APPLICATION_PERMISSIONS}


def canonical_permission(name: str) -> str | None:
    """Microsoft's spelling of a permission name, matched case-insensitively."""
    return _CANONICAL.get(name.lower())


@dataclass(frozen=True)
class User:
    id: str
    upn: str
    mail: str | None
    display_name: str
    given_name: str | None
    surname: str | None
    job_title: str | None
    office_location: str | None
    mobile_phone: str | None
    business_phones: list[str]
    preferred_language: str | None
    photo_blob: str | None
    photo_type: str | None
    photo_size: int | None
    photo_etag: str | None


@dataclass(frozen=True)
class App:
    client_id: str
    display_name: str
    service_principal_id: str
    is_public: bool
    secret_hash: str | None
    redirect_uris: list[str]
    delegated_permissions: list[str]
    app_roles: list[str]


def _user(row: object) -> User:
    r = dict(row)  # type: ignore[call-overload]
    return User(
        id=r["id"],
        upn=r["upn"],
        mail=r["mail"],
        display_name=r["display_name"],
        given_name=r["given_name"],
        surname=r["surname"],
        job_title=r["job_title"],
        office_location=r["office_location"],
        mobile_phone=r["mobile_phone"],
        business_phones=json.loads(r["business_phones"]),
        preferred_language=r["preferred_language"],
        photo_blob=r["photo_blob"],
        photo_type=r["photo_type"],
        photo_size=r["photo_size"],
        photo_etag=r["photo_etag"],
    )


class Directory:
    """Lookups of people are answered from memory: nothing in the sandbox changes a user's row
    while it runs, and every Graph request looks someone up."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._users: dict[str, User] = {}
        self._by_address: dict[str, User] = {}
        self._load_users()

    def _load_users(self) -> None:
        users = [_user(row) for row in self.store.query("SELECT * FROM users ORDER BY rowid")]
        self._ordered = users
        self._users = {key.lower(): user for user in users for key in (user.id, user.upn)}
        # the primary address wins over a UPN that happens to equal another user's address
        self._by_address = {user.upn.lower(): user for user in users}
        self._by_address.update({user.mail.lower(): user for user in users if user.mail})

    # users

    def user(self, id_or_upn: str) -> User | None:
        return self._users.get(id_or_upn.lower())

    def user_by_address(self, address: str) -> User | None:
        """The mailbox owner for an SMTP address (primary mail or UPN, case-insensitive)."""
        return self._by_address.get(address.lower())

    def users(self) -> list[User]:
        return list(self._ordered)

    def check_password(self, username: str, password: str) -> User | None:
        row = self.store.query_one("SELECT * FROM users WHERE upn = ?", username)
        if row is None or not check_secret(password, row["password_hash"]):
            return None
        return _user(row)

    # app registrations

    def app(self, client_id: str) -> App | None:
        row = self.store.query_one(
            "SELECT * FROM apps WHERE client_id = ? COLLATE NOCASE", client_id
        )
        if row is None:
            return None
        return App(
            client_id=row["client_id"],
            display_name=row["display_name"],
            service_principal_id=row["service_principal_id"],
            is_public=bool(row["is_public"]),
            secret_hash=row["secret_hash"],
            redirect_uris=json.loads(row["redirect_uris"]),
            delegated_permissions=json.loads(row["delegated_permissions"]),
            app_roles=json.loads(row["app_roles"]),
        )

    def apps(self) -> list[App]:
        rows = self.store.query("SELECT client_id FROM apps ORDER BY rowid")
        return [app for row in rows if (app := self.app(row["client_id"])) is not None]

    @staticmethod
    def check_client_secret(app: App, secret: str) -> bool:
        return check_secret(secret, app.secret_hash)

    @staticmethod
    def redirect_uri_registered(app: App, redirect_uri: str) -> bool:
        """Exact match, except that a loopback URI matches on any port, as Entra does."""
        if redirect_uri in app.redirect_uris:
            return True
        asked = urlsplit(redirect_uri)
        if asked.hostname not in ("127.0.0.1", "localhost", "::1") or asked.scheme != "http":
            return False
        for registered in app.redirect_uris:
            known = urlsplit(registered)
            if (
                known.scheme == asked.scheme
                and known.hostname == asked.hostname
                and (known.path or "/") == (asked.path or "/")
            ):
                return True
        return False

    # consent

    def consented(self, client_id: str, user_id: str) -> set[str]:
        """Scopes granted to the app for this user: their own consent plus the admin's."""
        rows = self.store.query(
            "SELECT scopes FROM consents WHERE client_id = ? AND user_id IN (?, '')",
            client_id,
            user_id,
        )
        granted: set[str] = set()
        for row in rows:
            granted.update(json.loads(row["scopes"]))
        return granted

    def grant(self, client_id: str, user_id: str, scopes: set[str]) -> None:
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT scopes FROM consents WHERE client_id = ? AND user_id = ?",
                (client_id, user_id),
            ).fetchone()
            merged = set(json.loads(row["scopes"])) if row else set()
            merged |= scopes
            db.execute(
                "INSERT OR REPLACE INTO consents (client_id, user_id, scopes) VALUES (?, ?, ?)",
                (client_id, user_id, json.dumps(sorted(merged))),
            )
