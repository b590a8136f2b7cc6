"""Where graphpost signs in and which Graph it calls: `Settings` from .env, a sandbox and GRAPHPOST_* variables.

Precedence, lowest first: defaults, a ``.env`` file in the working folder, the
``sandbox.json`` of ``GRAPHPOST_SANDBOX``, then variables set in the environment.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_AUTHORITY",
    "DEFAULT_GRAPH_URL",
    "AppKind",
    "ConfigError",
    "Settings",
    "default_home",
    "read_dotenv",
]

DEFAULT_AUTHORITY = "https://login.microsoftonline.com/common"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"

AppKind = Literal["web", "public", "daemon"]
_SANDBOX_APPS: dict[str, str] = {"web": "web_app", "public": "public_app", "daemon": "daemon_app"}

# Entra ID's sign-in hosts in Microsoft's clouds (public, US government, China, legacy aliases)
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login.microsoftonline.us",
        "login-us.microsoftonline.com",
        "login.usgovcloudapi.net",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)


class ConfigError(ValueError):
    """The configuration cannot be used as given; the message says which setting and why."""


def default_home() -> Path:
    """``$GRAPHPOST_HOME``, else the per-user data folder (``~/.local/share/graphpost`` on Linux)."""
    value = os.environ.get("GRAPHPOST_HOME")
    if value:
        return Path(value).expanduser()
    import platformdirs  # only here: most imports of graphpost never need it

    return platformdirs.user_data_path("graphpost")


@dataclass(frozen=True)
class Settings:
    """Everything needed to sign in and call Graph.  Secrets stay out of `repr`."""

    authority: str = DEFAULT_AUTHORITY
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    graph_url: str = DEFAULT_GRAPH_URL
    ca_file: str | None = None
    home: Path = field(default_factory=default_home)
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    sandbox_dir: Path | None = None

    @property
    def authority_host(self) -> str:
        return (urlsplit(self.authority).hostname or "").lower()

    @property
    def is_microsoft_cloud(self) -> bool:
        """True when the authority is one of Microsoft's own Entra ID hosts."""
        return self.sandbox_dir is None and self.authority_host in MICROSOFT_AUTHORITY_HOSTS

    @property
    def needs_instance_discovery(self) -> bool:
        """MSAL's instance discovery asks login.microsoftonline.com about the authority's
        host: useful for Microsoft's clouds, a failure for a sandbox or any other host."""
        return self.is_microsoft_cloud

    @property
    def verify(self) -> str | bool:
        """What to pass as ``verify=`` to httpx and MSAL: the CA file, else the system store."""
        return self.ca_file or True

    @classmethod
    def from_env(
        cls,
        app: AppKind = "web",
        environ: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> Settings:
        """Settings for `app` from ``.env`` in `cwd`, ``GRAPHPOST_SANDBOX``, and the environment.

        `app` picks the sandbox's app registration: the web app (confidential, delegated),
        the public client (CLI sign-in) or the daemon (client credentials).
        """
        if app not in _SANDBOX_APPS:
            raise ConfigError(f"app must be one of {', '.join(_SANDBOX_APPS)}, not {app!r}")
        environ = os.environ if environ is None else environ
        folder = Path.cwd() if cwd is None else Path(cwd)
        dotenv = read_dotenv(folder / ".env")
        explicit = {k: v for k, v in environ.items() if k.startswith("GRAPHPOST_")}

        values: dict[str, str | None] = {
            k.removeprefix("GRAPHPOST_"): v
            for k, v in dotenv.items()
            if k.startswith("GRAPHPOST_") and v != ""
        }
        sandbox_value = explicit.get("GRAPHPOST_SANDBOX") or dotenv.get("GRAPHPOST_SANDBOX")
        sandbox_dir: Path | None = None
        if sandbox_value:
            sandbox_dir = _resolve(sandbox_value, folder)
            values.update(_sandbox_values(sandbox_dir, app))
        for key, value in explicit.items():
            if value != "":
                name = key.removeprefix("GRAPHPOST_")
                if name == "CLIENT_ID" and value != values.get("CLIENT_ID"):
                    # another app than the sandbox's: its secret cannot be the sandbox's one
                    values.pop("CLIENT_SECRET", None)
                values[name] = value

        home_value = values.get("HOME")
        ca_value = values.get("CA_FILE")
        return cls(
            authority=(values.get("AUTHORITY") or DEFAULT_AUTHORITY).rstrip("/"),
            client_id=values.get("CLIENT_ID") or None,
            client_secret=values.get("CLIENT_SECRET") or None,
            graph_url=(values.get("GRAPH_URL") or DEFAULT_GRAPH_URL).rstrip("/"),
            ca_file=str(_resolve(ca_value, folder)) if ca_value else None,
            home=_resolve(home_value, folder) if home_value else _platform_home(),
            redis_url=values.get("REDIS_URL") or None,
            sandbox_dir=sandbox_dir,
        )

    @classmethod
    def from_sandbox(
        cls, data_dir: str | Path, app: AppKind = "web", home: str | Path | None = None
    ) -> Settings:
        """Settings for a sandbox's data folder alone (no .env, no environment): for demos and tests."""
        if app not in _SANDBOX_APPS:
            raise ConfigError(f"app must be one of {', '.join(_SANDBOX_APPS)}, not {app!r}")
        data = Path(data_dir).expanduser().resolve()
        values = _sandbox_values(data, app)
        return cls(
            authority=(values["AUTHORITY"] or DEFAULT_AUTHORITY).rstrip("/"),
            client_id=values.get("CLIENT_ID"),
            client_secret=values.get("CLIENT_SECRET"),
            graph_url=(values["GRAPH_URL"] or DEFAULT_GRAPH_URL).rstrip("/"),
            ca_file=values.get("CA_FILE"),
            home=Path(home) if home is not None else default_home(),
            sandbox_dir=data,
        )


def _platform_home() -> Path:
    import platformdirs

    return platformdirs.user_data_path("graphpost")


def _resolve(value: str, folder: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (folder / path).resolve()


def _sandbox_values(data_dir: Path, app: str) -> dict[str, str | None]:
    info_path = data_dir / "sandbox.json"
    try:
        info: dict[str, Any] = json.loads(info_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"GRAPHPOST_SANDBOX is {data_dir}, but it has no sandbox.json: start the sandbox with "
            f"`graphpost sandbox --data {data_dir}` first"
        ) from None
    except (OSError, ValueError) as failure:
        raise ConfigError(f"cannot read {info_path}: {failure}") from None
    registration = info.get(_SANDBOX_APPS[app]) or {}
    ca_file = info.get("ca_file")
    return {
        "AUTHORITY": info.get("authority"),
        "GRAPH_URL": info.get("graph_url"),
        "CA_FILE": str(_resolve(ca_file, data_dir)) if ca_file else None,
        "CLIENT_ID": registration.get("client_id"),
        "CLIENT_SECRET": registration.get("client_secret"),
    }


_DOTENV_LINE = re.compile(
    r"""^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(?P<value>.*?)\s*$"""
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def read_dotenv(path: str | Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a .env file: quotes, ``#`` comments and ``export`` understood; no expansion.

    A missing file is an empty mapping.  Lines that are not assignments are skipped.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return {}
    result: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        match = _DOTENV_LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        raw = match.group("value")
        quote = raw[:1]
        if quote in ("'", '"'):
            # a quoted value may go on over several lines until its closing quote
            while not _closed(raw, quote):
                following = next(lines, None)
                if following is None:
                    break
                raw += "\n" + following
            result[match.group("key")] = _unquote(raw, quote)
        else:
            # an unquoted value ends at " #" (an inline comment)
            result[match.group("key")] = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
    return result


def _closed(raw: str, quote: str) -> bool:
    index = 1
    while index < len(raw):
        char = raw[index]
        if char == "\\" and quote == '"':
            index += 2
            continue
        if char == quote:
            return True
        index += 1
    return False


def _unquote(raw: str, quote: str) -> str:
    value: list[str] = []
    index = 1
    while index < len(raw):
        char = raw[index]
        if char == quote:
            break
        if char == "\\" and quote == '"' and index + 1 < len(raw):
            following = raw[index + 1]
            value.append(_ESCAPES.get(following, "\\" + following))
            index += 2
            continue
        value.append(char)
        index += 1
    return "".join(value)
