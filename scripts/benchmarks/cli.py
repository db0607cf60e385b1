"""CLI start-up benchmark: wall and CPU time of `cairn` commands as a user runs them.

Each command runs `--runs` times in a fresh process (the installed `.venv/bin/cairn` entry
point, the same environment a user's shell has), one after another. Reported per command:
wall-clock p50/p90 and CPU (user+system of the child) p50. `whoami` makes one authenticated
request to the stack's api; it is skipped, with the reason, when no api answers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from scripts.benchmarks.stats import summary

ROOT = Path(__file__).resolve().parents[2]
CAIRN = ROOT / ".venv" / "bin" / "cairn"
COMMANDS = {"--help": ["--help"], "search --help": ["search", "--help"], "whoami": ["whoami"]}


def _api_answers() -> str | None:
    url = os.environ.get("CAIRN_API_URL")
    if not url:
        return "CAIRN_API_URL is not set"
    try:
        httpx.get(f"{url}/healthz", timeout=2).raise_for_status()
    except httpx.HTTPError as exc:
        return f"no api at {url}: {exc}"
    return None


def timed(args: list[str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one `cairn ARGS` run, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(CAIRN), *args], capture_output=True, text=True)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"cairn {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench cli")
    parser.add_argument("--runs", type=int, default=20)
    opts = parser.parse_args()
    skipped = {"whoami": why} if (why := _api_answers()) else {}
    results: dict[str, Any] = {}
    for name, args in COMMANDS.items():
        if name in skipped:
            continue
        timed(args)  # one warm-up run: the page cache, not Python, is then what a user has
        runs = [timed(args) for _ in range(opts.runs)]
        results[name] = {"wall_ms": summary([w for w, _ in runs], 50, 90),
                         "cpu_ms": summary([c for _, c in runs], 50, 90)}
        print(f"[cli] {name}: p50 {results[name]['wall_ms']['p50']} ms", file=sys.stderr)
    load = os.getloadavg()
    print(json.dumps({"benchmark": "cli", "runs": opts.runs, "commands": results,
                      "skipped": skipped, "load_avg_1m": round(load[0], 2),
                      "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
