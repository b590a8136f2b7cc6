"""Settings: .env parsing, sandbox.json, and the precedence .env < sandbox.json < environment variables."""

from __future__ import annotations

import json
from pathlib import Path

import platformdirs
import pytest

from graphpost.config import (
    DEFAULT_AUTHORITY,
    DEFAULT_GRAPH_URL,
    ConfigError,
    Settings,
    read_dotenv,
)

ENTRA = "https://login.microsoftonline.com/contoso.onmicrosoft.com"


def write_sandbox(folder: Path, port: int = 8443) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    info = {
        "authority": f"https://127.0.0.1:{port}/tenant-1",
        "graph_url": f"https://127.0.0.1:{port}/v1.0",
        "portal_url": f"https://127.0.0.1:{port}/",
        "ca_file": str(folder / "ca.pem"),
        "tenant_id": "tenant-1",
        "admin_key": "admin-key",
        "web_app": {"client_id": "web-id", "client_secret": "web-secret", "redirect_uris": []},
        "public_app": {"client_id": "public-id"},
        "daemon_app": {"client_id": "daemon-id", "client_secret": "daemon-secret"},
        "users": [],
    }
    (folder / "sandbox.json").write_text(json.dumps(info))
    return folder


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env(environ={}, cwd=tmp_path)
    assert settings.authority == DEFAULT_AUTHORITY == "https://login.microsoftonline.com/common"
    assert settings.graph_url == DEFAULT_GRAPH_URL == "https://graph.microsoft.com/v1.0"
    assert settings.client_id is None and settings.client_secret is None
    assert settings.ca_file is None and settings.redis_url is None and settings.sandbox_dir is None
    assert settings.home == platformdirs.user_data_path("graphpost")
    assert settings.is_microsoft_cloud and settings.needs_instance_discovery
    assert settings.verify is True


def test_environment_variables(tmp_path: Path) -> None:
    environ = {
        "GRAPHPOST_AUTHORITY": ENTRA + "/",
        "GRAPHPOST_CLIENT_ID": "cid",
        "GRAPHPOST_CLIENT_SECRET": "secret",
        "GRAPHPOST_GRAPH_URL": "https://graph.microsoft.com/beta/",
        "GRAPHPOST_CA_FILE": "certs/corp.pem",
        "GRAPHPOST_HOME": "~/gp-home",
        "GRAPHPOST_REDIS_URL": "redis://localhost:6379/0",
        "UNRELATED": "x",
    }
    settings = Settings.from_env(environ=environ, cwd=tmp_path)
    assert settings.authority == ENTRA
    assert (settings.client_id, settings.client_secret) == ("cid", "secret")
    assert settings.graph_url == "https://graph.microsoft.com/beta"
    assert settings.ca_file == str(
        tmp_path / "certs" / "corp.pem"
    )  # relative to the working folder
    assert settings.home == Path("~/gp-home").expanduser()
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.verify == settings.ca_file


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "GRAPHPOST_CLIENT_ID=from-dotenv\nGRAPHPOST_CLIENT_SECRET=dotenv-secret\n"
        f"GRAPHPOST_AUTHORITY={ENTRA}\n"
    )
    settings = Settings.from_env(environ={"GRAPHPOST_CLIENT_ID": "from-env"}, cwd=tmp_path)
    assert settings.client_id == "from-env"
    assert settings.authority == ENTRA


def test_precedence_dotenv_then_sandbox_then_environment(tmp_path: Path) -> None:
    sandbox = write_sandbox(tmp_path / "sandbox")
    (tmp_path / ".env").write_text(
        "GRAPHPOST_SANDBOX=sandbox\n"
        "GRAPHPOST_AUTHORITY=https://dotenv.example/tenant\n"
        "GRAPHPOST_GRAPH_URL=https://dotenv.example/v1.0\n"
        "GRAPHPOST_REDIS_URL=redis://dotenv:6379/0\n"
    )
    environ = {"GRAPHPOST_GRAPH_URL": "https://env.example/v1.0"}
    settings = Settings.from_env(app="web", environ=environ, cwd=tmp_path)
    assert settings.sandbox_dir == sandbox.resolve()
    assert settings.authority == "https://127.0.0.1:8443/tenant-1"  # sandbox over .env
    assert settings.graph_url == "https://env.example/v1.0"  # environment over sandbox
    assert settings.redis_url == "redis://dotenv:6379/0"  # only .env sets it
    assert (settings.client_id, settings.client_secret) == ("web-id", "web-secret")
    assert settings.ca_file == str(sandbox / "ca.pem")
    assert not settings.is_microsoft_cloud and not settings.needs_instance_discovery


def test_environment_sandbox_wins_over_dotenv_sandbox(tmp_path: Path) -> None:
    write_sandbox(tmp_path / "one", port=1111)
    write_sandbox(tmp_path / "two", port=2222)
    (tmp_path / ".env").write_text("GRAPHPOST_SANDBOX=one\n")
    settings = Settings.from_env(environ={"GRAPHPOST_SANDBOX": str(tmp_path / "two")}, cwd=tmp_path)
    assert settings.authority == "https://127.0.0.1:2222/tenant-1"


@pytest.mark.parametrize(
    ("app", "client_id", "secret"),
    [
        ("web", "web-id", "web-secret"),
        ("public", "public-id", None),
        ("daemon", "daemon-id", "daemon-secret"),
    ],
)
def test_sandbox_app_registration(
    tmp_path: Path, app: str, client_id: str, secret: str | None
) -> None:
    sandbox = write_sandbox(tmp_path / "sb")
    settings = Settings.from_env(app=app, environ={"GRAPHPOST_SANDBOX": str(sandbox)}, cwd=tmp_path)  # type: ignore[arg-type]
    assert (settings.client_id, settings.client_secret) == (client_id, secret)


def test_another_client_id_does_not_inherit_the_sandbox_secret(tmp_path: Path) -> None:
    sandbox = write_sandbox(tmp_path / "sb")
    environ = {"GRAPHPOST_SANDBOX": str(sandbox), "GRAPHPOST_CLIENT_ID": "my-own-app"}
    settings = Settings.from_env(environ=environ, cwd=tmp_path)
    assert (settings.client_id, settings.client_secret) == ("my-own-app", None)
    environ["GRAPHPOST_CLIENT_SECRET"] = "my-own-secret"
    assert Settings.from_env(environ=environ, cwd=tmp_path).client_secret == "my-own-secret"


def test_missing_sandbox_json_says_how_to_start_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="graphpost sandbox --data"):
        Settings.from_env(environ={"GRAPHPOST_SANDBOX": str(tmp_path / "nothing")}, cwd=tmp_path)


def test_unknown_app_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(app="mobile", environ={}, cwd=tmp_path)  # type: ignore[arg-type]


def test_from_sandbox(tmp_path: Path) -> None:
    sandbox = write_sandbox(tmp_path / "sb")
    settings = Settings.from_sandbox(sandbox, app="daemon", home=tmp_path / "home")
    assert (settings.client_id, settings.client_secret) == ("daemon-id", "daemon-secret")
    assert settings.home == tmp_path / "home"
    assert settings.graph_url == "https://127.0.0.1:8443/v1.0"


@pytest.mark.parametrize(
    ("authority", "microsoft"),
    [
        ("https://login.microsoftonline.com/common", True),
        ("https://login.microsoftonline.us/tenant", True),
        ("https://login.chinacloudapi.cn/tenant", True),
        ("https://LOGIN.MICROSOFTONLINE.COM/tenant", True),
        ("https://127.0.0.1:8443/tenant", False),
        ("https://login.microsoftonline.com.evil.example/tenant", False),
        ("https://contoso.b2clogin.com/contoso.onmicrosoft.com", False),
    ],
)
def test_is_microsoft_cloud(authority: str, microsoft: bool) -> None:
    settings = Settings(authority=authority)
    assert settings.is_microsoft_cloud is microsoft
    assert settings.needs_instance_discovery is microsoft


def test_repr_hides_secrets() -> None:
    settings = Settings(
        client_id="cid", client_secret="s3cr3t-value", redis_url="redis://:pw123@h:1/0"
    )
    assert "s3cr3t-value" not in repr(settings) and "pw123" not in repr(settings)
    assert "cid" in repr(settings)


def test_read_dotenv_syntax(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "\ufeff# a comment\n"
        "\n"
        "PLAIN=value\n"
        "  SPACED  =  spaced value  \n"
        "export EXPORTED=yes\n"
        "INLINE=kept # dropped comment\n"
        "HASH=a#b\n"
        "SINGLE='literal \\n $HOME # not a comment'\n"
        'DOUBLE="line\\nbreak \\"quoted\\" # not a comment"\n'
        'MULTI="first\n'
        'second"\n'
        "EMPTY=\n"
        "EQUALS=a=b=c\n"
        "not an assignment\n"
        "# COMMENTED=out\n",
        encoding="utf-8",
    )
    assert read_dotenv(path) == {
        "PLAIN": "value",
        "SPACED": "spaced value",
        "EXPORTED": "yes",
        "INLINE": "kept",
        "HASH": "a#b",
        "SINGLE": "literal \\n $HOME # not a comment",
        "DOUBLE": 'line\nbreak "quoted" # not a comment',
        "MULTI": "first\nsecond",
        "EMPTY": "",
        "EQUALS": "a=b=c",
    }
    assert read_dotenv(tmp_path / "missing.env") == {}


def test_read_dotenv_single_quotes_are_literal(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("SECRET='a\\nb $X # c'\n")
    assert read_dotenv(path) == {"SECRET": "a\\nb $X # c"}


def test_dotenv_windows_line_endings(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b'GRAPHPOST_CLIENT_ID=cid\r\nGRAPHPOST_CLIENT_SECRET="s"\r\n')
    assert read_dotenv(path) == {"GRAPHPOST_CLIENT_ID": "cid", "GRAPHPOST_CLIENT_SECRET": "s"}
