"""The user path: `cairn.Client.publish` over the SDK's default HTTP transport, each call
waiting until the ledger recorded the version (wait=True, the default: the SDK polls
GET /v1/events/{id}), from 1, 8 and 32 concurrent clients, one process each (fanout.py says
why). Each publish hashes and uploads one small file of its own (the blob is new, so it is
uploaded), captures the environment as the SDK does by default, and sends the corpus's
metadata and links; the publisher is an ordinary user with a read+publish token.

The items come from the discovery corpus's generator under another seed, renamed (`user-…`)
so they are artifacts of their own; compare.py gives MLflow's client the very same items.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from scripts.benchmarks import fanout
from scripts.benchmarks.discovery import Generator
from scripts.benchmarks.fanout import by_client_counts

CLIENTS = (1, 8, 32)
FILE_BYTES = 4096


def user_items(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` versions as plain data: the generator's events, artifacts renamed `user-<name>`
    (link targets too), external links left out (MLflow has no place for them), no stage
    (publishing straight into a stage needs the maintain scope; a contributor publishes)."""
    out = []
    for i, event in enumerate(Generator(count, seed, "user-path").events()):
        p = event["payload"][1]
        links = [[link["relation"], _renamed(link["target"])] for link in p["links"]
                 if link.get("target")]
        meta = {k: v for k, v in p["metadata"].items() if v not in (None, [], {})}
        out.append({"key": f"{i:06d}", "artifact": f"{p['project']}/user-{p['name']}",
                    "kind": p["kind"], "project": p["project"], "name": f"user-{p['name']}",
                    "metadata": meta, "links": links, "stage": None,
                    "file_bytes": FILE_BYTES})
    return out


def _renamed(ref: str) -> str:
    project, rest = ref.split("/", 1)
    return f"{project}/user-{rest}"


def file_for(work: Path, item: dict[str, Any]) -> Path:
    """The item's own file: its key repeated to file_bytes, so every blob is new."""
    path = work / item["key"] / "model.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = f"{item['artifact']}#{item['key']}|".encode()
    path.write_bytes((seed * (item["file_bytes"] // len(seed) + 1))[: item["file_bytes"]])
    return path


def make_cairn(config: dict[str, str], share: list[dict[str, Any]]) -> Any:
    from cairn import Client

    client = Client(api_url=config["api"], token=config["token"], progress=False)
    work = Path(tempfile.mkdtemp(prefix="cairn-bench-user-"))
    files = {item["key"]: file_for(work, item) for item in share}

    def publish(item: dict[str, Any]) -> tuple[str | None, str]:
        path = files[item["key"]]
        done = client.publish(item["kind"], item["project"], item["name"], [path],
                              root=path.parent, metadata=item["metadata"],
                              links=[tuple(link) for link in item["links"]],
                              stage=item["stage"], wait=True)
        return done.ref, done.digest

    return publish


def check_cairn(api: str, token: str, answers: list[tuple[str | None, str]]) -> dict[str, Any]:
    """Every publish came back with a ref, and that ref shows the digest it was given."""
    from cairn import Client

    missing = []
    with Client(api_url=api, token=token, progress=False) as client:
        for ref, digest in answers:
            if ref is None or client.show(ref).get("digest") != digest:
                missing.append(ref or digest)
    return {"checked": len(answers), "found": len(answers) - len(missing),
            "missing_examples": missing[:5]}


def run(api: str, token: str, items: list[dict[str, Any]], per_count: int,
        clients: tuple[int, ...] = CLIENTS) -> dict[str, Any]:
    return {"mode": "processes", "transport": "http", "wait": "recorded",
            "by_clients": by_client_counts(
                make_cairn, {"api": api, "token": token}, items, per_count, clients,
                lambda answers: check_cairn(api, token, answers))}


def needed(per_count: int, clients: tuple[int, ...] = CLIENTS) -> int:
    return fanout.needed(per_count, clients)
