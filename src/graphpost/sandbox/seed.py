"""The seeded tenant: people with mailboxes, drives and generated photos, and three app registrations."""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from graphpost.sandbox.passwords import hash_generated_secret, hash_password
from graphpost.sandbox.store import Store

DOMAIN = "graphpost.test"
PHOTO_PIXELS = 240
# the HD sizes Graph offers up to the original's
PHOTO_RENDITIONS = (48, 64, 96, 120)

# (given name, surname, job title, office, has a photo)
PEOPLE = [
    ("Ada", "Lovelace", "Analyst", "London", True),
    ("Grace", "Hopper", "Rear Admiral", "Arlington", True),
    ("Katherine", "Johnson", "Mathematician", "Hampton", True),
    ("Alan", "Turing", "Cryptanalyst", "Bletchley", False),
]

WEB_APP_PERMISSIONS = [
    "User.Read",
    "User.ReadWrite",  # settings kept in an open extension on the user
    "User.ReadBasic.All",
    "Mail.Send",
    "Mail.ReadWrite",
    "Files.ReadWrite",
    "openid",
    "profile",
    "email",
    "offline_access",
]
PUBLIC_APP_PERMISSIONS = WEB_APP_PERMISSIONS
DAEMON_APP_ROLES = ["Mail.Send", "Mail.ReadWrite", "User.Read.All", "Files.ReadWrite.All"]

WELL_KNOWN_FOLDERS = [
    ("inbox", "Inbox"),
    ("sentitems", "Sent Items"),
    ("drafts", "Drafts"),
    ("deleteditems", "Deleted Items"),
]


@dataclass(frozen=True)
class SeedSecrets:
    """What only the first start knows in clear text; kept in sandbox.json."""

    users: list[dict[str, str]]
    apps: dict[str, dict[str, Any]]


def outlook_id(prefix: str = "AAMkA") -> str:
    """An id shaped like Outlook's: URL-safe base64 text."""
    import base64

    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(33)).decode()


def drive_item_id() -> str:
    """An id shaped like OneDrive for Business's: 34 upper-case base32 characters."""
    import base64

    return "01" + base64.b32encode(secrets.token_bytes(20)).decode()[:32]


def identicon_png(seed: str, size: int = 240) -> bytes:
    """A deterministic 5x5 symmetric identicon as a PNG, so each person has a recognisable photo."""
    digest = hashlib.sha256(seed.encode()).digest()
    colour = (digest[0], digest[1], digest[2])
    background = (240, 240, 240)
    cells = [
        [bool(digest[3 + row * 3 + min(col, 4 - col)] & 1) for col in range(5)] for row in range(5)
    ]
    cell = size // 6
    margin = (size - cell * 5) // 2
    rows = []
    for y in range(size):
        line = bytearray(b"\x00")  # filter type None
        for x in range(size):
            cx, cy = (x - margin) // cell, (y - margin) // cell
            inside = 0 <= cx < 5 and 0 <= cy < 5 and x >= margin and y >= margin
            line += bytes(colour if inside and cells[cy][cx] else background)
        rows.append(bytes(line))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def seed_tenant(store: Store) -> SeedSecrets:
    """Fill an empty store with the tenant; returns the clear-text passwords and secrets."""
    tenant_id = str(uuid.uuid4())
    users: list[dict[str, str]] = []
    with store.transaction() as db:
        db.execute("INSERT INTO meta VALUES ('tenant_id', ?)", (tenant_id,))
        db.execute("INSERT INTO meta VALUES ('tenant_domain', ?)", (DOMAIN,))
        db.execute("INSERT INTO meta VALUES ('admin_key', ?)", (secrets.token_urlsafe(24),))
        db.execute("INSERT INTO meta VALUES ('cookie_secret', ?)", (secrets.token_hex(32),))
        db.execute("INSERT INTO meta VALUES ('clock_offset', '0')")
        for given, surname, title, office, has_photo in PEOPLE:
            user_id = str(uuid.uuid4())
            upn = f"{given.lower()}@{DOMAIN}"
            password = secrets.token_urlsafe(12)
            photo_blob = photo_type = photo_etag = None
            photo_size = None
            if has_photo:
                png = identicon_png(upn, PHOTO_PIXELS)
                photo_blob = store.write_blob_bytes(png)
                for pixels in PHOTO_RENDITIONS:
                    db.execute(
                        "INSERT INTO photo_renditions (user_id, pixels, blob) VALUES (?, ?, ?)",
                        (user_id, pixels, store.write_blob_bytes(identicon_png(upn, pixels))),
                    )
                photo_type, photo_size = "image/png", len(png)
                photo_etag = '"' + hashlib.sha256(png).hexdigest()[:8].upper() + '"'
            db.execute(
                "INSERT INTO users (id, upn, mail, display_name, given_name, surname, job_title,"
                " office_location, business_phones, preferred_language, password_hash,"
                " photo_blob, photo_type, photo_size, photo_etag)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]', 'en-US', ?, ?, ?, ?, ?)",
                (
                    user_id,
                    upn,
                    upn,
                    f"{given} {surname}",
                    given,
                    surname,
                    title,
                    office,
                    hash_password(password),
                    photo_blob,
                    photo_type,
                    photo_size,
                    photo_etag,
                ),
            )
            for well_known, display in WELL_KNOWN_FOLDERS:
                db.execute(
                    "INSERT INTO mail_folders (id, user_id, well_known_name, display_name)"
                    " VALUES (?, ?, ?, ?)",
                    (outlook_id("AAMkAGI"), user_id, well_known, display),
                )
            db.execute(
                "INSERT INTO drive_items (id, user_id, parent_id, name, is_folder, created, modified)"
                " VALUES (?, ?, NULL, 'root', 1, datetime('now'), datetime('now'))",
                (drive_item_id(), user_id),
            )
            users.append(
                {
                    "id": user_id,
                    "userPrincipalName": upn,
                    "mail": upn,
                    "displayName": f"{given} {surname}",
                    "password": password,
                    "hasPhoto": has_photo,  # type: ignore[dict-item]
                }
            )

        apps: dict[str, dict[str, Any]] = {}
        web_secret, daemon_secret = secrets.token_urlsafe(30), secrets.token_urlsafe(30)
        registrations = [
            (
                "web_app",
                "graphpost web app",
                False,
                web_secret,
                [
                    "http://127.0.0.1:5000/login/authorized",
                    "http://localhost:5000/login/authorized",
                    # where the web app asks Entra to return after sign-out
                    "http://127.0.0.1:5000/",
                    "http://localhost:5000/",
                ],
                WEB_APP_PERMISSIONS,
                [],
                False,
            ),
            (
                "public_app",
                "graphpost command line",
                True,
                None,
                ["http://localhost", "http://127.0.0.1"],
                PUBLIC_APP_PERMISSIONS,
                [],
                True,
            ),
            (
                "daemon_app",
                "graphpost daemon",
                False,
                daemon_secret,
                [],
                [],
                DAEMON_APP_ROLES,
                True,
            ),
        ]
        for (
            key,
            name,
            is_public,
            secret,
            redirects,
            delegated,
            roles,
            admin_consent,
        ) in registrations:
            client_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO apps (client_id, display_name, service_principal_id, is_public,"
                " secret_hash, redirect_uris, delegated_permissions, app_roles)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    client_id,
                    name,
                    str(uuid.uuid4()),
                    int(is_public),
                    hash_generated_secret(secret) if secret else None,
                    json.dumps(redirects),
                    json.dumps(delegated),
                    json.dumps(roles),
                ),
            )
            if admin_consent and delegated:
                db.execute(
                    "INSERT INTO consents (client_id, user_id, scopes) VALUES (?, '', ?)",
                    (client_id, json.dumps(delegated)),
                )
            entry: dict[str, Any] = {"client_id": client_id}
            if secret:
                entry["client_secret"] = secret
            if redirects:
                entry["redirect_uris"] = redirects
            apps[key] = entry
        credentials = SeedSecrets(users=users, apps=apps)
        # the clear text is kept (beside the hashes that sign-in checks) so that every
        # later start can write it to sandbox.json again
        db.execute(
            "INSERT INTO meta VALUES ('credentials', ?)",
            (json.dumps({"users": users, "apps": apps}),),
        )
    return credentials
