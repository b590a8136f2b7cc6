"""TLS trust: the system's certificate store plus, when configured, an extra CA file (a sandbox's)."""

from __future__ import annotations

import os
import re
import ssl
import sys
from pathlib import Path

from graphpost.config import ConfigError

_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.\d+")


def trust(ca_file: str | Path | None) -> ssl.SSLContext:
    """A client context trusting the system store and `ca_file` besides (GRAPHPOST_CA_FILE is *extra*).

    The same settings as ``ssl.create_default_context()`` (TLS client, hostname checked,
    certificate required)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    load_system_store(context)
    if ca_file:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as failure:
            raise ConfigError(f"cannot use the CA file {ca_file}: {failure}") from None
    return context


def load_system_store(context: ssl.SSLContext) -> None:
    """The system's CAs, as `load_default_certs` gives them; on Linux from the hashed certificate
    folder when there is one, which OpenSSL reads a certificate at a time as handshakes need them,
    rather than the bundle file, which it parses whole at once (about 2 MB and 25 ms a context)."""
    paths = ssl.get_default_verify_paths()
    folder = paths.capath
    if (
        sys.platform.startswith("linux")
        and not os.environ.get(paths.openssl_cafile_env)  # SSL_CERT_FILE names a file to use
        and folder
        and _is_hashed(folder)
    ):
        context.load_verify_locations(capath=folder)
    else:
        context.load_default_certs()


def _is_hashed(folder: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(_HASHED_NAME.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False
