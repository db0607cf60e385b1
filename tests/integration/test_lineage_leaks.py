"""What lies behind a private version stays hidden, on the real stack (api, ledger, validator).

A public eval (top) links to a private model (mid), which was trained on a public dataset
(base) and built from code on an internal git host. Those who may not see the private
project get one placeholder where the link reaches it, and nothing of what it links to: not
base, not its edges, not the URL; in the JSON, the pictures and the web page alike. A link
to a private project (resolved or not) answers exactly as a link to a project that does not
exist, in a version's links, its lineage and its verdicts' reasons.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cairn.sdk import Client

from tests.access_world import World, world_api, world_fixture  # noqa: F401
from tests.conftest import API_TOKEN
from tests.integration.test_access import _until
from tests.ledger_helpers import settings_for
from tests.processes import Service

STRANGERS = ("anonymous", "outsider")
INSIDERS = ("viewer", "site_admin")
SECRET_URL = "https://git.internal.example/ml/secret-train"
CHECKS = {"schema", "naming", "required", "license", "files", "lineage", "completeness"}
VIA = ("via-resolved", "via-hidden", "via-missing")  # to a private version, a private
# project's unrecorded ref, a project that does not exist


@dataclass
class Chain:
    world: World
    public: str  # val-*: the validator judges it
    missing: str

    @property
    def top(self) -> str:
        return f"{self.public}/top@v1"

    @property
    def base(self) -> str:
        return f"{self.public}/base@v1"

    @property
    def mid(self) -> str:
        return f"{self.world.private}/leak-mid@v1"


def _file(tmp: Path, name: str) -> list[str]:
    (tmp / name).write_bytes(uuid.uuid4().bytes)
    return [str(tmp / name)]


@pytest.fixture(scope="module")
async def chain(world: World, validator: Service, cairn_env: dict[str, str],
                tmp_path_factory: pytest.TempPathFactory) -> Chain:
    found = Chain(world, f"val-leak-{world.tag}", f"nope-{world.tag}")
    pub, priv, tmp = found.public, world.private, tmp_path_factory.mktemp("leaks")
    meta = {"creator": "tests", "license": "MIT"}
    targets = {"via-resolved": found.mid, "via-hidden": f"{priv}/leak-ghost@v1",
               "via-missing": f"{found.missing}/leak-ghost@v1"}
    with Client(world.api.url, API_TOKEN, settings_for(cairn_env), progress=False) as sdk:
        sdk.publish("dataset", pub, "base", _file(tmp, "base"), metadata=meta, root=tmp)
        sdk.publish("model", priv, "leak-mid", _file(tmp, "mid"), metadata=meta, root=tmp,
                    links=[("trained_on", found.base),
                           {"relation": "produced_by",
                            "external": {"kind": "code", "url": SECRET_URL, "commit": "4f2a9c1"}}])
        sdk.publish("eval_log", pub, "top", _file(tmp, "top"), metadata=meta, root=tmp,
                    links=[("evaluates", found.mid)])
        for name, target in targets.items():
            sdk.publish("model", pub, name, _file(tmp, name), metadata=meta, root=tmp,
                        links=[("trained_on", target)])
    with world.client("site_admin") as http:
        def judged() -> bool:
            return all(CHECKS.issubset(v["check"] for v in _detail(http, f"{pub}/{n}@v1")[
                "verdicts"]) for n in VIA)
        await _until(judged, within=90)
    return found


def _get(http: httpx.Client, path: str, **params: Any) -> httpx.Response:
    reply = http.get(path, params=params)
    assert reply.status_code == 200, (path, reply.text)
    return reply


def _detail(http: httpx.Client, ref: str) -> dict[str, Any]:
    return dict(_get(http, "/v1/resolve", ref=ref).json())


def _lineage(http: httpx.Client, ref: str, **params: Any) -> dict[str, Any]:
    return dict(_get(http, "/v1/lineage", ref=ref, depth=10, **params).json())


@pytest.mark.parametrize("caller", STRANGERS)
def test_a_private_version_ends_the_walk(chain: Chain, caller: str) -> None:
    priv = chain.world.private
    with chain.world.client(caller) as http:
        graph = _lineage(http, chain.top, direction="both")
        from_base = _lineage(http, chain.base, direction="down")
        dot = _get(http, f"/v1/lineage/{chain.top}.dot", direction="both", depth=10).text
        svg = _get(http, f"/v1/lineage/{chain.top}.svg", direction="both", depth=10).text
        png = _get(http, f"/v1/lineage/{chain.top}.png", direction="both", depth=10)
        page = _get(http, f"/ui/artifacts/{chain.public}/top/versions/v1").text
        ui_svg = _get(http, f"/ui/lineage/{chain.top}.svg").text
    assert graph["nodes"] == [
        {**graph["nodes"][0], "id": chain.top, "distance": 0},
        {"id": "redacted-1", "redacted": True, "distance": 1}]
    assert graph["edges"] == [{"from": chain.top, "to": "redacted-1", "relation": "evaluates"}]
    # from the other side: base is used by something, and that is all
    assert [n["id"] for n in from_base["nodes"]] == [chain.base, "redacted-1"]
    assert from_base["edges"] == [{"from": "redacted-1", "to": chain.base,
                                   "relation": "trained_on"}]
    for shown in (json.dumps(graph), json.dumps(from_base), dot, svg, page, ui_svg):
        assert priv not in shown and "git.internal" not in shown and "4f2a9c1" not in shown
    for shown in (json.dumps(graph), dot, svg, page, ui_svg):
        assert chain.base not in shown and "trained_on" not in shown and "produced_by" not in shown
    assert dot.count("->") == 1 and "redacted-2" not in dot
    assert png.content.startswith(b"\x89PNG")


@pytest.mark.parametrize("caller", INSIDERS)
def test_those_who_may_see_it_walk_through(chain: Chain, caller: str) -> None:
    with chain.world.client(caller) as http:
        graph = _lineage(http, chain.top, direction="both")
        dot = _get(http, f"/v1/lineage/{chain.top}.dot", direction="both", depth=10).text
    ids = {n["id"] for n in graph["nodes"]}
    assert ids == {chain.top, chain.mid, chain.base, f"external:{SECRET_URL}@4f2a9c1"}
    assert {(e["from"], e["relation"], e["to"]) for e in graph["edges"]} == {
        (chain.top, "evaluates", chain.mid), (chain.mid, "trained_on", chain.base),
        (chain.mid, "produced_by", f"external:{SECRET_URL}@4f2a9c1")}
    assert SECRET_URL in dot and chain.base in dot


def _as_seen(chain: Chain, http: httpx.Client, name: str) -> dict[str, Any]:
    """A via-* version's links, verdicts and lineage, with its own name and digest blanked."""
    ref = f"{chain.public}/{name}@v1"
    detail = _detail(http, ref)
    seen = {"links_out": detail["links_out"], "links_in": detail["links_in"],
            "verdicts": detail["verdicts"],
            "lineage": _lineage(http, ref, direction="both"),
            "dot": _get(http, f"/v1/lineage/{ref}.dot", direction="both", depth=10).text}
    text = json.dumps(seen).replace(detail["digest"], "<digest>")
    return dict(json.loads(re.sub(rf"\b{name}\b", "<name>", text)))


@pytest.mark.parametrize("caller", STRANGERS)
def test_a_link_to_a_private_project_looks_like_one_to_a_missing_project(
        chain: Chain, caller: str) -> None:
    with chain.world.client(caller) as http:
        resolved, hidden, missing = (_as_seen(chain, http, name) for name in VIA)
    assert resolved == hidden == missing
    assert hidden["links_out"] == [{"relation": "trained_on", "redacted": True}]
    lineage = hidden["lineage"]
    assert [n["id"] for n in lineage["nodes"]][1:] == ["redacted-1"]
    shown = json.dumps(hidden)
    assert chain.world.private not in shown and chain.missing not in shown


@pytest.mark.parametrize("caller", STRANGERS)
def test_verdict_reasons_name_no_private_ref(chain: Chain, caller: str) -> None:
    with chain.world.client(caller) as http:
        for name in VIA:
            verdicts = _detail(http, f"{chain.public}/{name}@v1")["verdicts"]
            lineage = next(v for v in verdicts if v["check"] == "lineage")
            assert lineage == {**lineage, "status": "passed", "reasons": []}, name
            assert chain.world.private not in json.dumps(verdicts)
        page = _get(http, f"/ui/artifacts/{chain.public}/via-hidden/versions/v1").text
    assert chain.world.private not in page


def test_insiders_still_see_what_does_not_resolve(chain: Chain) -> None:
    """A member of the private project reads the unresolved link and the warning about it;
    a site administrator also the link to the project that does not exist."""
    with chain.world.client("viewer") as http:
        hidden = _detail(http, f"{chain.public}/via-hidden@v1")
    with chain.world.client("site_admin") as http:
        missing = _detail(http, f"{chain.public}/via-missing@v1")
    for detail, target in ((hidden, f"{chain.world.private}/leak-ghost@v1"),
                           (missing, f"{chain.missing}/leak-ghost@v1")):
        assert detail["links_out"][0]["target_ref"] == target
        lineage = next(v for v in detail["verdicts"] if v["check"] == "lineage")
        assert lineage["status"] == "warning" and target in lineage["reasons"][0]
