"""The import contracts in pyproject.toml (run by scripts/test): they hold on the real tree,
and an import across a boundary, added on purpose to a copy of services/, breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with `root`'s pyproject.toml, analysing `root`/services/cairn."""
    env = {**os.environ, "PYTHONPATH": str(root / "services")}  # before the editable install
    return subprocess.run([LINT_IMPORTS, "--no-cache", str(root / "pyproject.toml")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_real_tree_keeps_every_contract() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


PROBES = [  # (module added to the copy, its import, the contract it breaks, the line named)
    ("cairn/archiver/probe.py", "from cairn.validator import verdicts",
     "Services never import each other", "cairn.archiver.probe -> cairn.validator.verdicts"),
    ("cairn/cli/probe.py", "from cairn.ledger import recorder",
     "Services never import each other", "cairn.cli.probe -> cairn.ledger.recorder"),
    ("cairn/core/probe.py", "from cairn.readmodel import versions",
     "cairn.core imports no service", "cairn.core.probe -> cairn.readmodel.versions"),
    ("cairn/readmodel/probe.py", "from cairn.api import errors",
     "cairn.readmodel and cairn.search import no service",
     "cairn.readmodel.probe -> cairn.api.errors"),
    ("cairn/core/domain/probe.py", "from cairn.core.adapters import kafka",
     "cairn.core.domain is pure", "cairn.core.domain.probe -> cairn.core.adapters.kafka"),
    ("cairn/indexer/probe.py", "from cairn.readmodel import index_rows",
     "cairn.indexer reads no PostgreSQL", "cairn.indexer.probe -> cairn.readmodel.index_rows"),
]


def test_an_import_across_a_boundary_breaks_the_run(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "services", tmp_path / "services",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, imports, _, _ in PROBES:
        (tmp_path / "services" / module).write_text(f'"""Across on purpose."""\n{imports}\n')
    run = lint_imports(tmp_path)
    assert run.returncode != 0
    assert "0 kept, 5 broken" in run.stdout, run.stdout
    for _, _, contract, line in PROBES:
        assert f"{contract}" in run.stdout and line in run.stdout, run.stdout
