"""Capture where an artifact was made: Python, packages, OS, CPU, GPUs, host and git state.

Every probe is best effort: a missing `git` or `nvidia-smi`, a directory outside a
repository or a probe that hangs leaves its field at the default instead of failing the
publish. Keys are exactly the Environment record's (cairn.core.domain.event_types).
"""

from __future__ import annotations

import copy
import functools
import os
import platform
import shutil
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from cairn.core.domain.event_types import Environment
from cairn.core.domain.payloads import defaults

PROBE_TIMEOUT = 10.0


def capture(image_digest: str | None = None, cwd: str | os.PathLike[str] | None = None, *,
            refresh: bool = False) -> Environment:
    """The environment of this process; `image_digest` falls back to env CAIRN_IMAGE_DIGEST.

    Captured once per process (and git state once per directory): walking every package and
    running git costs more than a small publish. `refresh=True` captures again, after
    installing packages or committing, say."""
    if refresh:
        _process_facts.cache_clear()
        _git_state_of.cache_clear()
    env = defaults(Environment) | copy.deepcopy(_process_facts())
    env["container_image_digest"] = image_digest or os.environ.get("CAIRN_IMAGE_DIGEST") or None
    env.update(_git_state_of(Path(cwd).resolve() if cwd is not None else Path.cwd()))
    return cast(Environment, env)


@functools.cache
def _process_facts() -> dict[str, Any]:
    """What cannot change while this process runs (packages: refresh after installing more)."""
    return {
        "python": platform.python_version(),
        "packages": installed_packages(),
        "os": platform.platform(),
        "cpu": cpu_model(),
        "accelerators": gpus(),
        "hostname": socket.gethostname(),
    }


@functools.cache
def _git_state_of(cwd: Path) -> dict[str, Any]:
    return git_state(cwd)


def installed_packages() -> dict[str, str]:
    """Distribution name → version; the first found on sys.path wins, as imports do."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and dist.version:
            found.setdefault(name, dist.version)
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        brand = _run(["sysctl", "-n", "machdep.cpu.brand_string"])
        if brand:
            return brand
    return platform.processor() or platform.machine() or None


def gpus() -> list[str]:
    """GPU names from nvidia-smi; none when it is absent or finds no device."""
    if shutil.which("nvidia-smi") is None:
        return []
    out = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
    return [line.strip() for line in (out or "").splitlines() if line.strip()]


def git_state(cwd: Path) -> dict[str, Any]:
    """Commit, dirty flag (tracked files only) and remote of the repository around cwd."""
    if shutil.which("git") is None:
        return {}
    commit = _run(["git", "rev-parse", "HEAD"], cwd)
    if not commit:
        return {}
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd)
    remote = _run(["git", "remote", "get-url", "origin"], cwd)
    if not remote:
        first = (_run(["git", "remote"], cwd) or "").split()
        remote = _run(["git", "remote", "get-url", first[0]], cwd) if first else None
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status),
            "git_remote": without_credentials(remote) if remote else None}


def without_credentials(url: str) -> str:
    """Drop a user:token@ from an https remote: credentials never go into an event."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and (parts.username or parts.password):
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _run(args: list[str], cwd: Path | None = None) -> str | None:
    """stdout of a probe, or None if it failed, was missing or took too long."""
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
