"""The tenant's token-signing key: made once per data folder, published as a JWKS, used to sign.

Like Entra's, each key carries a self-signed certificate (`x5c`) and its `kid` is the
certificate's SHA-1 thumbprint (`x5t`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64url(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class SigningKey:
    """An RSA key with its certificate, loaded from or written to `folder`."""

    def __init__(self, folder: Path) -> None:
        key_path, cert_path = folder / "signing-key.pem", folder / "signing-cert.pem"
        if key_path.exists() and cert_path.exists():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            self._key = loaded
            self._cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        else:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._cert = _self_signed(self._key)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(
                    self._key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
            cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        der = self._cert.public_bytes(serialization.Encoding.DER)
        self.kid = b64url(hashlib.sha1(der).digest())  # noqa: S324 - x5t is SHA-1 by definition
        self._x5c = base64.b64encode(der).decode()

    def jwk(self, issuer: str) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _int_b64url(numbers.n),
            "e": _int_b64url(numbers.e),
            "x5c": [self._x5c],
            "issuer": issuer,
        }

    def sign(self, claims: dict[str, Any], *, x5t: bool) -> str:
        """An RS256 JWT; v1.0 access tokens carry `x5t` in the header, v2.0 ID tokens do not."""
        headers: dict[str, Any] = {"typ": "JWT", "kid": self.kid}
        if x5t:
            headers["x5t"] = self.kid
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "graphpost sandbox token signing")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
