"""The user path: `cairn.Client.publish` over the SDK's default HTTP transport, each call
waiting until the ledger recorded the version (wait=True, the default: the SDK polls
GET /v1/events/{id}), from 1, 8 and 32 concurrent clients, one process each (fanout.py says
why). Each publish hashes and uploads one small file of its own (the blob is new, so it is
uploaded), captures the environment as the SDK does by default, and sends the corpus's
metadata and links; the publisher is an ordinary user with a read+publish token.

The items come from the discovery corpus's generator under another seed, renamed (`user-…`)
so they are artifacts of their own; compare.py gives MLflow's client the very same items.
With --services-from, the client processes import the SDK of that checkout too (`sdk_path`),
so an old api is driven by its own SDK, as its users would have driven it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from scripts.benchmarks import fanout
from scripts.benchmarks.fanout import by_client_counts, fan_out

CLIENTS = (1, 8, 32)
FILE_BYTES = 4096


def user_items(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` versions as plain data: the generator's events, artifacts renamed `user-<name>`
    (link targets too), external links left out (MLflow has no place for them), no stage
    (publishing straight into a stage needs the maintain scope; a contributor publishes)."""
    from scripts.benchmarks.discovery import Generator

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


def sdk_client(config: dict[str, Any]) -> Any:
    """A Client of the SDK at config["sdk_path"] (None: this checkout's). Runs in a fresh
    client process: a cairn imported with the parent's main module is dropped first."""
    if config.get("sdk_path"):
        for name in [m for m in sys.modules if m == "cairn" or m.startswith("cairn.")]:
            del sys.modules[name]
        sys.path.insert(0, config["sdk_path"])
    from cairn import Client

    return Client(api_url=config["api"], token=config["token"], progress=False)


def make_cairn(config: dict[str, Any], share: list[dict[str, Any]]) -> Any:
    client = sdk_client(config)
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


def make_bulk(config: dict[str, Any], share: list[list[dict[str, Any]]]) -> Any:
    """One process, one call: its share is one list, given to publish_many whole."""
    client = sdk_client(config)
    work = Path(tempfile.mkdtemp(prefix="cairn-bench-bulk-"))
    given = [{"kind": i["kind"], "project": i["project"], "name": i["name"],
              "files": [file_for(work, i)], "root": work / i["key"],
              "metadata": i["metadata"], "links": [tuple(link) for link in i["links"]]}
             for i in share[0]]

    def publish_many(_: Any) -> list[tuple[str | None, str, str]]:
        done = client.publish_many(given, wait=True)
        return [(r.ref, r.digest or "", r.status if r.status == "recorded" else
                 f"{r.artifact}: {r.reason}") for r in done]

    return publish_many


def bulk(config: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """`Client.publish_many(items)` from one process over HTTP, waiting for the records: the
    importer's path through the api (files written before the clock)."""
    timed, wall_s = fan_out(make_bulk, config, [[items]])
    answers = timed[0][0][1]
    recorded = [(ref, digest) for ref, digest, status in answers if status == "recorded"]
    refused = [status for _, _, status in answers if status != "recorded"]
    check = check_cairn(config["api"], config["token"], recorded)
    check["checked"] += len(refused)
    check["missing_examples"] = (refused + check["missing_examples"])[:5]
    return {"client": "cairn.Client.publish_many, one process", "transport": "http",
            "wait": "recorded", "publishes": len(items), "wall_s": round(wall_s, 2),
            "per_s": round(len(items) / wall_s, 1), "answers": check}


def run(api: str, token: str, items: list[dict[str, Any]], per_count: int,
        clients: tuple[int, ...] = CLIENTS, bulk_count: int = 0,
        sdk_path: str | None = None) -> dict[str, Any]:
    """The client counts' figures, then publish_many on the next `bulk_count` items."""
    config = {"api": api, "token": token, "sdk_path": sdk_path}
    out: dict[str, Any] = {
        "mode": "processes", "transport": "http", "wait": "recorded",
        "sdk": sdk_path or "this checkout's",
        "by_clients": by_client_counts(make_cairn, config, items, per_count, clients,
                                       lambda answers: check_cairn(api, token, answers))}
    if bulk_count:
        used = needed(per_count, clients)
        try:
            out["publish_many"] = bulk(config, items[used: used + bulk_count])
        except Exception as exc:  # an older api (--services-from) has no batch route
            out["publish_many_error"] = f"{type(exc).__name__}: {exc}"[:500]
    return out
def needed(per_count: int, clients: tuple[int, ...] = CLIENTS) -> int:
    return fanout.needed(per_count, clients)
