"""Search cannot tell a private project's dataset from one that does not exist, on the real
stack (api, ledger, indexer, OpenSearch).

Three public models, each alone in its own public project, were trained on: a real version of
a private project, a version of a project that does not exist, and the private version by
digest. To strangers the three answer alike (dataset facet, `dataset=` filter, hits'
datasets, the search page), byte for byte once the model's own project and the dataset's
name are blanked. A member sees the private one; a link to a missing project or a bare
digest stays unseen to every non-admin (as lineage shows it: a placeholder); a site admin
sees all three.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cairn.sdk import Client

from tests.access_world import World, world_api, world_fixture  # noqa: F401
from tests.conftest import API_TOKEN
from tests.integration.test_access import _until
from tests.ledger_helpers import settings_for

STRANGERS = ("anonymous", "outsider")
SIDES = ("hidden", "missing", "digest")
VOLATILE = ("digest", "created_at", "seq")  # each model's own, whatever it links to


@dataclass(frozen=True)
class Side:
    project: str  # public, holding one model `m`
    dataset: str  # what the index holds of its trained_on target: project/name or sha256:


@pytest.fixture(scope="module")
async def sides(world: World, cairn_env: dict[str, str],
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, Side]:
    tmp = tmp_path_factory.mktemp("search-hiding")
    with world.client("site_admin") as http:
        digest = http.get("/v1/resolve", params={"ref": f"{world.private}/quokka-data@v1"}
                          ).json()["digest"]
    targets = {"hidden": (f"{world.private}/quokka-data", f"{world.private}/quokka-data@v1"),
               "missing": (f"nope-{world.tag}/quokka-data", f"nope-{world.tag}/quokka-data@v1"),
               "digest": (f"sha256:{digest}", f"sha256:{digest}")}
    found = {}
    with Client(world.api.url, API_TOKEN, settings_for(cairn_env), progress=False) as sdk:
        for side, (dataset, target) in targets.items():
            found[side] = Side(f"sh{side[0]}-{world.tag}", dataset)
            (tmp / side).write_bytes(uuid.uuid4().bytes)
            sdk.publish("model", found[side].project, "m", [str(tmp / side)], root=tmp,
                        metadata={"creator": "tests", "license": "MIT"},
                        links=[("trained_on", target)])
    with world.client("site_admin") as http:  # indexed, each naming its dataset
        await _until(lambda: all(
            [h["datasets"] for h in _search(http, project=s.project)["hits"]] == [[s.dataset]]
            for s in found.values()))
    return found


def _search(http: httpx.Client, **params: Any) -> dict[str, Any]:
    reply = http.get("/v1/search", params={"size": 50, **params})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _answers(http: httpx.Client, sides: dict[str, Side], side: Side) -> dict[str, str]:
    """What search says about one side, with its dataset and the three projects (the project
    facet counts them all) blanked."""
    def blank(text: str) -> str:
        text = text.replace(side.dataset, "<dataset>")
        for each in sides.values():
            text = text.replace(each.project, "<project>")
        return text

    def hits(answer: dict[str, Any]) -> str:
        for hit in answer["hits"]:
            for key in VOLATILE:
                hit.pop(key)
        return blank(json.dumps(answer, sort_keys=True))

    page = http.get("/ui", params={"project": side.project})
    assert page.status_code == 200, page.text
    return {
        "project": hits(_search(http, project=side.project)),
        "filter": hits(_search(http, project=side.project, dataset=side.dataset)),
        "filter alone": hits(_search(http, dataset=side.dataset)),
        # the project facet ticks this side's project, among the three: the JSON has it
        "page": blank(re.sub(r'<fieldset class="facet" data-facet="project">.*?</fieldset>',
                             "", page.text, flags=re.S)),
    }


def _shown(http: httpx.Client, side: Side) -> tuple[list[list[str]], dict[str, int], int]:
    """(the hit's datasets, the dataset facet, hits of the dataset filter) for one side."""
    plain = _search(http, project=side.project)
    filtered = _search(http, project=side.project, dataset=side.dataset)
    return ([h["datasets"] for h in plain["hits"]],
            {b["value"]: b["count"] for b in plain["facets"]["dataset"]}, filtered["total"])


@pytest.mark.parametrize("caller", STRANGERS)
def test_a_private_dataset_answers_as_a_missing_one_and_a_digest(sides: dict[str, Side],
                                                                   world: World,
                                                                   caller: str) -> None:
    with world.client(caller) as http:
        answers = {side: _answers(http, sides, sides[side]) for side in SIDES}
        shown = {side: _shown(http, sides[side]) for side in SIDES}
    for what in answers["hidden"]:
        assert answers["hidden"][what] == answers["missing"][what] == answers["digest"][what], \
            what
    for side in SIDES:
        assert shown[side] == ([[]], {}, 0), side  # found, trained on nothing one may see
    for text in answers["hidden"].values():
        assert "<dataset>" not in text and world.private not in text


def test_a_member_sees_the_private_dataset_and_a_missing_one_as_strangers_do(
        sides: dict[str, Side], world: World) -> None:
    with world.client("viewer") as http:
        shown = {side: _shown(http, sides[side]) for side in SIDES}
    dataset = sides["hidden"].dataset
    assert shown == {"hidden": ([[dataset]], {dataset: 1}, 1),
                     "missing": ([[]], {}, 0), "digest": ([[]], {}, 0)}


def test_a_site_admin_sees_every_dataset(sides: dict[str, Side], world: World) -> None:
    with world.client("site_admin") as http:
        for side in sides.values():
            assert _shown(http, side) == ([[side.dataset]], {side.dataset: 1}, 1), side


def test_suggestions_never_name_a_dataset_a_stranger_may_not_see(sides: dict[str, Side],
                                                                world: World) -> None:
    """Suggestions hold names, tags and metric names of visible versions only, no datasets:
    the private dataset's name is suggested to its members, to nobody else."""
    def names(caller: str) -> list[str]:
        with world.client(caller) as http:
            reply = http.get("/v1/suggest", params={"prefix": "quokka-d", "size": 50})
        assert reply.status_code == 200, reply.text
        return [s["value"] for s in reply.json()["suggestions"]]

    assert names("viewer") == [sides["hidden"].dataset]
    for caller in STRANGERS:
        assert names(caller) == [], caller
