"""A private namespace (topic prefix, database, blob dir) with Cairn services for one benchmark.

`services_from`: another checkout whose code the spawned services run (its `services/` first on
their PYTHONPATH only), so one benchmark, with the same load and checks, measures an old commit
beside the current one (`git worktree add /tmp/before <commit>`). The benchmark's own code
(generator, encoder, checks) stays this checkout's.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.processes import Service


@contextmanager
def workspace(services: tuple[str, ...] = ("ledger",), *, purge: bool = False,
              services_from: Path | None = None
              ) -> Iterator[tuple[dict[str, str], dict[str, Service]]]:
    """`purge` also deletes the run's topics, consumer groups and search indices at the end,
    for benchmarks that fill them with enough data to matter."""
    if services_from is not None and not (services_from / "services" / "cairn").is_dir():
        raise SystemExit(f"--services-from {services_from}: no services/cairn there")
    run = uuid.uuid4().hex[:8]
    admin_url = os.environ["DATABASE_URL"]
    database = f"cairn_bench_{run}"
    token = secrets.token_hex(24)  # random and long, as an api outside development demands

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{database}"'))
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-"))
    env = {
        **{k: os.environ[k] for k in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL",
                                      "SEARCH_URL", "SEARCH_ENGINE")},
        "DATABASE_URL": admin_url.rsplit("/", 1)[0] + f"/{database}",
        "CAIRN_TOPIC_PREFIX": f"bench.{run}.",
        "CAIRN_INDEX_PREFIX": f"bench-{run}",
        "CAIRN_BLOB_DIR": str(tmp / "blobs"),
        "CAIRN_API_TOKENS": f"bench={token}",
        "CAIRN_TOKEN": token,
        # The run's own keys: its services and its emitters (the same env) sign with them.
        "CAIRN_SIGNING_KEY": secrets.token_hex(32),
        "CAIRN_WEBHOOK_KEY": secrets.token_hex(32),
        "CAIRN_ARCHIVE_DIR": str(tmp / "archive"),
    }
    spawned = env if services_from is None else {
        **env, "PYTHONPATH": str(services_from.resolve() / "services")}
    running: dict[str, Service] = {}
    try:
        for name in services:
            running[name] = Service(name, spawned, tmp).start()
        yield env, running
    finally:
        for svc in running.values():
            svc.stop()
        if purge:
            purge_namespace(env)
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def purge_namespace(env: dict[str, str]) -> None:
    """Delete what carries this run's prefixes: topics, consumer groups, indices and schema
    subjects. Best effort: a leftover is garbage, not a failed benchmark."""
    from confluent_kafka.admin import AdminClient

    from tests.search_helpers import drop_indices

    prefix = env["CAIRN_TOPIC_PREFIX"]
    kafka = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"]})
    try:
        groups = kafka.list_consumer_groups().result(timeout=15).valid
        ours = [g.group_id for g in groups if g.group_id.startswith(prefix)]
        for future in (kafka.delete_consumer_groups(ours).values() if ours else ()):
            future.result(timeout=30)
        topics = [t for t in kafka.list_topics(timeout=15).topics if t.startswith(prefix)]
        for future in (kafka.delete_topics(topics).values() if topics else ()):
            future.result(timeout=30)
    except Exception as exc:
        print(f"could not delete the {prefix}* topics or groups: {exc}", file=sys.stderr)
    drop_indices(env["SEARCH_URL"], env["CAIRN_INDEX_PREFIX"])
    registry = env["SCHEMA_REGISTRY_URL"]
    try:
        subjects = httpx.get(f"{registry}/subjects", timeout=15).json()
        for subject in (s for s in subjects if s.startswith(prefix)):
            httpx.delete(f"{registry}/subjects/{subject}", timeout=15)
            httpx.delete(f"{registry}/subjects/{subject}", params={"permanent": "true"},
                         timeout=15)
    except (httpx.HTTPError, ValueError) as exc:
        print(f"could not delete the {prefix}* schema subjects: {exc}", file=sys.stderr)


def code_of(checkout: Path) -> dict[str, Any]:
    """Which commit a checkout is at, and whether its work tree differs from it."""
    import subprocess

    def git(*args: str) -> str | None:
        done = subprocess.run(["git", *args], cwd=checkout, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"checkout": str(checkout), "commit": commit,
            "dirty": None if changes is None else bool(changes)}


def user_token(api: str, admin_token: str, user: str = "bench-reader",
               scopes: tuple[str, ...] = ("read",)) -> str:
    """A token of an ordinary user (no site admin), made through the api as an administrator
    would: requests then pay for what a user's request costs (the hidden-project checks an
    administrator skips)."""
    with httpx.Client(base_url=api, timeout=30,
                      headers={"Authorization": f"Bearer {admin_token}"}) as admin:
        made = admin.put(f"/v1/users/{user}", json={})
        made.raise_for_status()
        wait_recorded(admin, made.json()["event_id"])
        token = admin.post("/v1/tokens", json={"owner": user, "scopes": list(scopes),
                                               "description": "benchmark user"})
        token.raise_for_status()
        wait_recorded(admin, token.json()["event_id"])
    secret = str(token.json()["token"])
    with httpx.Client(base_url=api, timeout=30,
                      headers={"Authorization": f"Bearer {secret}"}) as reader:
        who = reader.get("/v1/whoami").json()
    if who.get("name") != user or who.get("site_admin"):
        raise RuntimeError(f"the reader token is not an ordinary user's: {who}")
    return secret


def configure_projects(api: str, admin_token: str, projects: list[str],
                       members: dict[str, str]) -> None:
    """Each project public with these members' roles, as an administrator sets one up: an
    ordinary user publishes only where they have a role (contributor or more)."""
    with httpx.Client(base_url=api, timeout=30,
                      headers={"Authorization": f"Bearer {admin_token}"}) as admin:
        for project in projects:
            put = admin.put(f"/v1/projects/{project}",
                            json={"visibility": "public", "members": members})
            put.raise_for_status()
            wait_recorded(admin, put.json()["event_id"])


def wait_recorded(client: httpx.Client, event_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = client.get(f"/v1/events/{event_id}")
        if reply.status_code == 200 and reply.json().get("status") != "pending":
            if reply.json().get("status") == "rejected":
                raise RuntimeError(f"event {event_id} rejected: {reply.json()}")
            return
        time.sleep(0.1)
    raise RuntimeError(f"event {event_id} not recorded in {timeout}s")


# ---- memory of each part at the end
BACKING = {"kafka": ("kafka.Kafka",), "opensearch": ("org.opensearch.bootstrap",
                                                     "org.elasticsearch.bootstrap"),
           "schema_registry": ("apicurio", "quarkus-run"), "postgresql": ()}


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB: PSS shares shared pages out among their users (PostgreSQL's shared
    buffers are counted once over all its backends, not once per backend)."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return rss, pss


def _processes() -> Iterator[tuple[int, int, str, str]]:
    """(pid, process group, comm, cmdline) of every process we may read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1: stat.rindex(")")]
        pgrp = int(stat[stat.rindex(")") + 2:].split()[2])
        yield int(entry.name), pgrp, comm, cmd


def parts_of(running: dict[str, Service]) -> dict[str, list[int]]:
    """The pids of each part: each service (its process group, i.e. the process and any
    workers it started) and each backing server (all its processes, found by command)."""
    groups = {svc.proc.pid: name for name, svc in running.items() if svc.proc is not None}
    parts: dict[str, list[int]] = {}
    for pid, pgrp, comm, cmd in _processes():
        name = groups.get(pgrp)
        if name is None:
            if comm.startswith("postgres"):
                name = "postgresql"
            else:
                name = next((part for part, marks in BACKING.items()
                             if any(m in cmd for m in marks)), None)
        if name is not None:
            parts.setdefault(name, []).append(pid)
    return parts


def memory(running: dict[str, Service]) -> dict[str, Any]:
    """Memory of each part now, in MB (parts as `parts_of`)."""
    out: dict[str, Any] = {}
    for name, pids in sorted(parts_of(running).items()):
        sizes = [_memory_kb(p) for p in pids]
        out[name] = {"processes": len(pids), "rss_mb": round(sum(r for r, _ in sizes) / 1024, 1),
                     "pss_mb": round(sum(p for _, p in sizes) / 1024, 1)}
    return out


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (and of its waited-for children), in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(f) for f in fields[11:15])


class CpuMeter:
    """CPU seconds each part spent between `start()` and `stop()`: where a run's time went.

    Processes that exited in between are not counted (PostgreSQL's pooled backends and
    every service live through a run; the bench's own process is counted as "bench")."""

    def __init__(self, running: dict[str, Service]) -> None:
        self.running = running
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.before: dict[str, dict[int, int]] = {}
        self.own = 0.0

    def _sample(self) -> dict[str, dict[int, int]]:
        return {name: {pid: cpu_ticks(pid) for pid in pids}
                for name, pids in parts_of(self.running).items()}

    def start(self) -> None:
        self.before, self.own = self._sample(), time.process_time()

    def stop(self) -> dict[str, float]:
        after, own = self._sample(), time.process_time() - self.own
        out = {name: round(sum(t - self.before.get(name, {}).get(pid, 0)
                               for pid, t in pids.items()) / self.ticks, 1)
               for name, pids in sorted(after.items())}
        out["bench"] = round(own, 1)
        out["total"] = round(sum(out.values()), 1)
        return out
