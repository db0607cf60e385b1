"""The replicated topology of `scripts/stack up --cluster` (issue 16), for the tests that need
it: whether this shell points at it (`eval "$(scripts/stack env --cluster)"` sets
CAIRN_CLUSTER_DIR), and one of its servers killed (SIGKILL, as a crash) or started again
through scripts/stack. Elsewhere such tests are skipped with `needs_cluster`'s reason."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ON_CLUSTER = "CAIRN_CLUSTER_DIR" in os.environ

needs_cluster = pytest.mark.skipif(
    not ON_CLUSTER, reason='not pointed at scripts/stack up --cluster: run it, then '
    'eval "$(scripts/stack env --cluster)" in the shell that runs the tests')


def _stack(*args: str) -> None:
    """scripts/stack of the checkout whose cluster this shell points at (its .stack-cluster)."""
    script = Path(os.environ["CAIRN_CLUSTER_DIR"]).parent / "scripts" / "stack"
    subprocess.run([str(script), *args, "--cluster"], check=True, timeout=700)


def kill(name: str) -> None:
    """SIGKILL the cluster's server `name` (kafka2, search1, ...): no shutdown, no flush."""
    _stack("kill", name)


def start(name: str) -> None:
    """Start the cluster's server `name` again on its ports and data; returns once healthy."""
    _stack("start", name)
