"""Password and secret hashing for the sandbox's directory (salted; constant-time checks).

People's passwords get scrypt, which makes guessing slow. Client secrets, which the sandbox
generates with 240 random bits, get SHA-256: no guess can hit such a secret, so a slow hash would
only add its 60-100 ms of CPU to every client-credentials token (as services store API keys).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def hash_generated_secret(secret: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.sha256(salt + secret.encode()).digest()
    return "sha256$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_secret(secret: str, stored: str | None) -> bool:
    """Whether `secret` is the one `stored` was made from (by either function above)."""
    if not stored or stored.count("$") != 2:
        return False
    kind, salt_b64, digest_b64 = stored.split("$")
    salt = base64.b64decode(salt_b64)
    if kind == "scrypt":
        digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    elif kind == "sha256":
        digest = hashlib.sha256(salt + secret.encode()).digest()
    else:
        return False
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))
