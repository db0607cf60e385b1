"""compose/docker-compose.yml must stay interchangeable with scripts/stack.

People on the host run `eval "$(scripts/stack env)"` and expect it to reach either route, and
Cairn's services read exactly those variables. So the Cairn containers get the same variable
set (plus CAIRN_HTTP_PORT and CAIRN_HTTP_HOST), and every port in those endpoints is published
on 127.0.0.1 only. No secret is written in the file: each install makes its own on first start
(compose/make-secrets.sh, read through CAIRN_SECRETS_DIR), and the services run in production.
Nothing here needs Docker's engine: Debian's docker-compose 1.29 validates the file offline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cairn.api.auth import bootstrap_tokens
from cairn.core.adapters.settings import PUBLIC_SECRETS, Settings
from cairn.core.adapters.signing import required_master

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"
MAKE_SECRETS = ROOT / "compose" / "make-secrets.sh"
# What the `secrets` service writes, one file each: never in the compose file's environment.
SECRET_VARIABLES = {"CAIRN_SIGNING_KEY", "CAIRN_WEBHOOK_KEY", "CAIRN_TOKEN", "CAIRN_API_TOKENS"}


def stack_apps() -> tuple[str, ...]:
    """Every Cairn service scripts/stack may start (its ALL_APPS), so compose cannot lag."""
    text = (ROOT / "scripts" / "stack").read_text()
    found = re.search(r"^ALL_APPS=\(([^)]*)\)", text, re.MULTILINE)
    assert found, "scripts/stack no longer defines ALL_APPS=(...)"
    return tuple(found.group(1).split())


CAIRN_SERVICES = stack_apps()
EXPECTED_SERVICES = {"kafka", "postgres", "registry", "search", *CAIRN_SERVICES}


def stack_env() -> dict[str, str]:
    """What `scripts/stack env` prints, with its defaults (CAIRN_* overrides removed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "stack"), "env"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    exported = dict(re.findall(r"^export ([A-Z_][A-Z0-9_]*)=(.*)$", out, re.MULTILINE))
    # The optional S3 server's variables (`scripts/stack up --s3`) are no part of compose's.
    return {k: v for k, v in exported.items()
            if not k.startswith("AWS_") and k != "CAIRN_TEST_S3_BUCKET"}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def published(port: str | int | dict[str, Any]) -> tuple[str, int | None]:
    """(host ip, host port) of one `ports:` entry; no ip means Docker's default, 0.0.0.0."""
    if isinstance(port, dict):
        host_port = port.get("published")
        return str(port.get("host_ip", "0.0.0.0")), int(host_port) if host_port else None
    parts = str(port).split("/")[0].split(":")
    if len(parts) == 3:
        return parts[0], int(parts[1])
    if len(parts) == 2:
        return "0.0.0.0", int(parts[0])
    return "0.0.0.0", None  # container port only: Docker picks a host port on every address


def test_docker_compose_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("no docker-compose binary: `apt-get install docker-compose` to check the file")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_all_services_are_defined() -> None:
    assert set(compose()["services"]) >= EXPECTED_SERVICES


@pytest.mark.parametrize("name", CAIRN_SERVICES)
def test_cairn_services_get_the_stack_variables(name: str) -> None:
    environment = compose()["services"][name]["environment"]
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    assert set(environment) == set(stack_env()) - SECRET_VARIABLES | {
        "CAIRN_HTTP_PORT", "CAIRN_HTTP_HOST", "CAIRN_ENVIRONMENT", "CAIRN_SECRETS_DIR",
        "CAIRN_WEBHOOK_ALLOW"}


def test_no_secret_is_written_in_the_compose_files() -> None:
    for path in (COMPOSE_FILE, ROOT / "compose" / "Dockerfile"):
        text = path.read_text().lower()
        for secret in PUBLIC_SECRETS:
            assert secret not in text, f"{path.name} holds {secret!r}, a public secret"
    for name, service in compose()["services"].items():
        assert not SECRET_VARIABLES & set(service.get("environment") or {}), name


@pytest.mark.parametrize("name", CAIRN_SERVICES)
def test_cairn_services_run_in_production_on_this_installs_secrets(name: str) -> None:
    service = compose()["services"][name]
    environment = service["environment"]
    assert re.fullmatch(r"\$\{CAIRN_ENVIRONMENT:-production\}", environment["CAIRN_ENVIRONMENT"])
    assert f"secrets:{environment['CAIRN_SECRETS_DIR']}:ro" in service["volumes"]
    assert service["depends_on"]["secrets"] == {"condition": "service_completed_successfully"}
    maker = compose()["services"]["secrets"]
    assert maker["command"][-1] == environment["CAIRN_SECRETS_DIR"]
    assert f"secrets:{environment['CAIRN_SECRETS_DIR']}" in maker["volumes"]


def test_make_secrets_makes_random_ones_once_and_the_services_take_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `secrets` service's script, run here: mode 600, kept on a second start, different
    per install, and good enough for services in production."""
    installs = [tmp_path / "one", tmp_path / "two"]
    for folder in installs:
        folder.mkdir()
        subprocess.run(["sh", str(MAKE_SECRETS), str(folder)], check=True, timeout=30,
                       capture_output=True)
    made = {p.name: p.read_text() for p in installs[0].iterdir()}
    assert set(made) == SECRET_VARIABLES
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in installs[0].iterdir())
    assert made["CAIRN_API_TOKENS"] == f"demo={made['CAIRN_TOKEN']}"
    subprocess.run(["sh", str(MAKE_SECRETS), str(installs[0])], check=True, timeout=30,
                   capture_output=True)
    assert {p.name: p.read_text() for p in installs[0].iterdir()} == made  # kept
    assert (installs[1] / "CAIRN_SIGNING_KEY").read_text() != made["CAIRN_SIGNING_KEY"]
    for variable in SECRET_VARIABLES | {"CAIRN_ENVIRONMENT"}:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CAIRN_SECRETS_DIR", str(installs[0]))
    settings = Settings()
    assert settings.environment == "production"
    assert required_master(settings, "the ledger") == made["CAIRN_SIGNING_KEY"].encode()
    assert settings.webhook_key.get_secret_value() == made["CAIRN_WEBHOOK_KEY"]
    assert bootstrap_tokens(settings) == (("demo", made["CAIRN_TOKEN"].encode()),)


def test_stack_ports_are_published_on_loopback() -> None:
    values = [v for k, v in stack_env().items() if k != "CAIRN_BLOB_DIR"]
    wanted = {int(p) for v in values for p in re.findall(r":(\d+)(?=/|$)", v)}
    assert wanted, "found no ports in `scripts/stack env`"
    on_loopback = {
        port
        for service in compose()["services"].values()
        for ip, port in map(published, service.get("ports", []))
        if ip == "127.0.0.1"
    }
    assert wanted <= on_loopback, f"not published on 127.0.0.1: {sorted(wanted - on_loopback)}"


def test_nothing_is_published_on_all_addresses() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            ip, _ = published(port)
            assert ip not in ("0.0.0.0", "::", ""), f"{name} publishes {port!r} on every address"


@pytest.mark.parametrize("name", CAIRN_SERVICES)
def test_cairn_services_listen_where_scripts_stack_puts_them(name: str) -> None:
    text = (ROOT / "scripts" / "stack").read_text()
    found = re.search(rf"^{name.upper()}_PORT=\$\(port_of CAIRN_{name.upper()}_PORT (\d+)\)",
                      text, re.MULTILINE)
    assert found, f"scripts/stack has no default port for {name}"
    service = compose()["services"][name]
    assert service["environment"]["CAIRN_HTTP_PORT"] == found.group(1)
    assert f"127.0.0.1:{found.group(1)}:{found.group(1)}" in service["ports"]
