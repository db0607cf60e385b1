"""scripts/stack itself: status, logs and env say true things about the running stack, and
its signing key is its own and goes to Cairn's services only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
from cairn.core.adapters.settings import is_public

from tests.endpoints import ROOT, Endpoints, parse_exports

STACK = str(ROOT / "scripts" / "stack")


@pytest.fixture(autouse=True)
def _local_stack_only(endpoints: Endpoints) -> None:
    if endpoints.origin != "scripts/stack":
        pytest.skip(f"services come from {endpoints.origin}, not scripts/stack")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STACK, *args], capture_output=True, text=True, timeout=120)


def test_status_reports_every_backing_service_healthy() -> None:
    status = _run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    rows = {line.split()[0]: line.split()[2] for line in status.stdout.splitlines()[1:]}
    for service in ("postgres", "kafka", "search", "registry"):
        assert rows[service] == "healthy"


def test_up_is_idempotent_and_env_points_at_live_services() -> None:
    again = _run("up", "--no-services")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stderr
    env = parse_exports(_run("env").stdout)
    assert httpx.get(f"{env['SEARCH_URL']}/_cluster/health").json()["status"] in ("green", "yellow")
    assert httpx.get(f"{env['SCHEMA_REGISTRY_URL']}/config").json()["compatibilityLevel"] == \
        "BACKWARD_TRANSITIVE"


def test_logs_of_a_service_and_of_an_unknown_one() -> None:
    kafka = _run("logs", "kafka")
    assert kafka.returncode == 0 and "(kafka." in kafka.stdout  # log4j lines name their logger
    unknown = _run("logs", "nosuch")
    assert unknown.returncode != 0 and "no log for 'nosuch'" in unknown.stderr


def test_the_signing_key_is_the_stacks_own_and_only_its_services_get_it() -> None:
    """A random key per stack in .stack/ (600, the invoking user's), in the environment of
    Cairn's services only: not in `env`'s output, nor on any command line."""
    stack_dir = Path(os.environ.get("CAIRN_STACK_DIR", ROOT / ".stack"))
    key_file = stack_dir / "signing-key"
    if not key_file.exists():
        pytest.skip("scripts/stack up has not started Cairn's services here")
    key = key_file.read_text().strip()
    assert len(key) >= 32 and not is_public(key)
    assert key_file.stat().st_mode & 0o777 == 0o600 and key_file.stat().st_uid == os.getuid()
    assert key not in _run("env").stdout
    pid_file = stack_dir / "run" / "ledger.pid"
    if not pid_file.exists():
        pytest.skip("the stack's ledger is not running")
    proc = Path("/proc") / pid_file.read_text().strip()
    environ = dict(item.split("=", 1) for item in
                   (proc / "environ").read_bytes().decode().split("\0") if "=" in item)
    assert environ.get("CAIRN_SIGNING_KEY") == key
    assert key not in (proc / "cmdline").read_bytes().decode()
