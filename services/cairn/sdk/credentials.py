"""The token `cairn login` stores for the CLI and SDK: ~/.config/cairn/config.toml, mode 600.

    api_url = "https://cairn.example.org"
    token = "cairn_…"

Where a token comes from, first found wins: the `token=` argument (or --token), CAIRN_TOKEN,
then this file. The file's token is sent only to the api it was stored for, so pointing the
CLI at another server never hands it over. CAIRN_CONFIG names another file;
XDG_CONFIG_HOME moves the default one.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from cairn.sdk.errors import CairnError


def config_path() -> Path:
    if os.environ.get("CAIRN_CONFIG"):
        return Path(os.environ["CAIRN_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "cairn" / "config.toml"


def _same(a: str | None, b: str | None) -> bool:
    return bool(a and b) and str(a).rstrip("/") == str(b).rstrip("/")


def load() -> dict[str, Any]:
    path = config_path()
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CairnError("invalid_configuration", f"{path}: {exc}; fix or remove the file "
                         "(cairn logout), then cairn login again", local=True) from None


def stored_api_url() -> str | None:
    value = load().get("api_url")
    return str(value) if value else None


def stored_token(api_url: str) -> str | None:
    """The stored token, if it was stored for this api."""
    found = load()
    return str(found["token"]) if found.get("token") and _same(found.get("api_url"), api_url) \
        else None


def save(api_url: str, token: str) -> Path:
    """Write the file readable by its owner only (replacing it whole, never half-written)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = f"api_url = {json.dumps(api_url.rstrip('/'))}\ntoken = {json.dumps(token)}\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def forget() -> bool:
    try:
        config_path().unlink()
        return True
    except FileNotFoundError:
        return False
