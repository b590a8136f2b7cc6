"""TLS trust: the system's certificate store plus, when configured, an extra CA file (a sandbox's)."""

from __future__ import annotations

import ssl
from pathlib import Path

from graphpost.config import ConfigError


def trust(ca_file: str | Path | None) -> ssl.SSLContext:
    """A client context trusting the system store and `ca_file` besides (GRAPHPOST_CA_FILE is *extra*)."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as failure:
            raise ConfigError(f"cannot use the CA file {ca_file}: {failure}") from None
    return context
