"""Concurrent clients for the user-path benchmarks, one process each: standard library only,
so Cairn's side (user_path.py) and MLflow's (mlflow_driver.py, in its own virtualenv) run their
clients exactly alike.

Processes, not threads: each simulated user is its own Python process, as a notebook or a
training script is, so no client waits on another's GIL (the SDK hashes files and captures
the environment in Python; at 32 threads in one interpreter the benchmark would measure the
GIL, not the server). Each process builds its client and its files before the clock starts,
signals ready, and starts on a common signal.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import traceback
from collections.abc import Callable
from typing import Any

from scripts.benchmarks.stats import summary

# answers -> {"checked", "found", "missing_examples"}, run untimed after each client count
Check = Callable[[list[Any]], dict[str, Any]]
# make(config, share) -> do(item) -> answer; make is module-level, so a spawned process can
# import it, and prepares the share's files and client before the clock
Make = Callable[[Any, list[Any]], Callable[[Any], Any]]


def _client(make: Make, config: Any, share: list[Any], index: int, ready: Any, start: Any,
            results: Any) -> None:
    try:
        do = make(config, share)
        ready.put(index)
        start.wait()
        timed = []
        for item in share:
            began = time.perf_counter()
            answer = do(item)
            timed.append(((time.perf_counter() - began) * 1000, answer))
        results.put((index, timed, time.time(), None))
    except BaseException:  # the parent reports it; a child must never hang the run
        ready.put(index)
        results.put((index, [], time.time(), traceback.format_exc()))


def fan_out(make: Make, config: Any, shares: list[list[Any]], timeout_s: float = 3600
            ) -> tuple[list[list[tuple[float, Any]]], float]:
    """One process per share: each does its items in order, one at a time. Returns each
    process's [(latency ms, answer)] and the seconds from the common start to the last one's
    end."""
    ctx = mp.get_context("spawn")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_client, args=(make, config, share, i, ready, start, results))
             for i, share in enumerate(shares)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=1800)  # 32 interpreters importing mlflow on a busy machine
        began = time.time()
        start.set()
        out: dict[int, list[tuple[float, Any]]] = {}
        ends = []
        for _ in procs:
            index, timed, ended, error = results.get(timeout=timeout_s)
            if error:
                raise RuntimeError(f"client {index} failed:\n{error}")
            out[index] = timed
            ends.append(ended)
        return [out[i] for i in range(len(shares))], max(ends) - began
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()


def shares_by_key(items: list[dict[str, Any]], clients: int, key: str = "artifact"
                  ) -> list[list[dict[str, Any]]]:
    """Items dealt to clients whole artifact by artifact, so one artifact's versions are
    published by one client in their order (version numbers and links come out as generated);
    largest artifacts first, each to the client with least work, each share in item order."""
    groups: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(item[key], []).append(i)
    dealt: list[list[int]] = [[] for _ in range(clients)]
    for group in sorted(groups.values(), key=len, reverse=True):
        min(dealt, key=len).extend(group)
    return [[items[i] for i in sorted(share)] for share in dealt]


def by_client_counts(make: Make, config: Any, items: list[dict[str, Any]], per_count: int,
                     clients: tuple[int, ...], check: Check) -> list[dict[str, Any]]:
    """For each client count its own slice of `items` (max(per_count, clients) versions, so
    no count republishes what another did): versions/s over the wall time from the common
    start to the last client's end, each call's latency, and the answers checked."""
    out, start = [], 0
    for k in clients:
        batch = items[start: start + max(per_count, k)]
        start += len(batch)
        timed, wall_s = fan_out(make, config, shares_by_key(batch, k))
        latencies = [ms for share in timed for ms, _ in share]
        out.append({
            "clients": k, "publishes": len(latencies),
            "per_s": round(len(latencies) / wall_s, 1), "wall_s": round(wall_s, 2),
            "latency_ms": summary(latencies, 50, 99),
            "per_client_items_min_max": [min(map(len, timed)), max(map(len, timed))],
            "answers": check([answer for share in timed for _, answer in share])})
    return out


def needed(per_count: int, clients: tuple[int, ...]) -> int:
    """How many items by_client_counts uses."""
    return sum(max(per_count, k) for k in clients)
