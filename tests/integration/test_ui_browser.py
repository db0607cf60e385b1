"""The web UI in a real browser (Playwright driving Debian's chromium) on the real stack: sign
in, search, a suggestion as you type, a facet that applies on click, a version page whose
lineage graph is clicked through to the version it was trained on, that dataset's card
(Markdown) and a CSV preview, a comparison of two versions with the differing rows marked.

Screenshots of each step go to test-artifacts/ui-browser/ (gitignored) for a person to look
at. Without a chromium on the machine the test is skipped and says so (`apt-get install
chromium`; no `playwright install`: the system browser is the one driven).
"""

from __future__ import annotations

import re
import shutil
import struct
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from cairn.sdk import Client

from tests.clients import sdk_fixture  # noqa: F401
from tests.conftest import API_TOKEN
from tests.endpoints import ROOT
from tests.processes import Service

if TYPE_CHECKING:
    from playwright.sync_api import Browser

playwright_api = pytest.importorskip("playwright.sync_api")
SHOTS = ROOT / "test-artifacts" / "ui-browser"
CARD = """# Birds

Wing spans of **80 finches**, one row each.

| column | meaning |
|---|---|
| wingspan_cm | tip to tip |

<script>document.title = "owned"</script> [a link](javascript:alert(1))
"""


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _png(width: int, height: int) -> bytes:
    """A small solid-colour RGB PNG, written by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + b"\x2c\x6e\x9b" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def chain(sdk: Client, api: Service, indexer: Service,
          tmp_path_factory: pytest.TempPathFactory) -> str:
    """A public project: dataset `birds` ← model `finch` (trained_on; tag, metric) ← eval
    `finch-eval` (evaluates), all indexed."""
    project, work = f"uib-{uuid.uuid4().hex[:8]}", tmp_path_factory.mktemp("browser")

    def publish(kind: str, name: str, links: list[tuple[str, str]], more: Sequence[str] = (),
                **metadata: object) -> None:
        (work / "f.bin").write_bytes(uuid.uuid4().bytes)
        sdk.publish(kind, project, name, ["f.bin", *more], root=work, links=links,
                    metadata={"creator": "tests", "license": "MIT", **metadata})

    (work / "birds.csv").write_text("species,wingspan_cm,count\n" + "".join(
        f"finch-{i},{20 + i},{i * 7}\n" for i in range(80)))
    (work / "README.md").write_text(CARD)
    (work / "wing.png").write_bytes(_png(40, 20))
    publish("dataset", "birds", [], ["birds.csv", "README.md", "wing.png"],
            tags=["ornithology"])
    publish("model", "finch", [("trained_on", f"{project}/birds@v1")],
            tags=["ornithology"], metrics={"top1": 0.83})
    publish("eval_log", "finch-eval", [("evaluates", f"{project}/finch@v1")])
    publish("model", "finch", [("trained_on", f"{project}/birds@v1")],
            tags=["ornithology"], metrics={"top1": 0.86}, params={"lr": 0.01})
    deadline = time.monotonic() + 90
    with httpx.Client(base_url=api.url, timeout=30) as http:
        while http.get("/v1/search", params={"project": project}).json().get("total") != 4:
            assert time.monotonic() < deadline, "not indexed in 90 s"
            time.sleep(0.5)
    return project


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    if executable is None:
        print("SKIPPED: no chromium on this machine (apt-get install chromium)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    with playwright_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def test_search_facet_version_and_a_lineage_click(browser: Browser, api: Service,
                                                  chain: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=api.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
            and not msg.text.startswith("Failed to load resource") else None)
    page.on("response", lambda reply: errors.append(f"{reply.status} {reply.url}")
            if reply.status >= 400 and not reply.url.endswith("/favicon.ico") else None)
    expect = playwright_api.expect

    page.goto("/ui/login")
    page.fill("input[name=token]", API_TOKEN)
    page.click("form.login button[type=submit]")
    expect(page.locator(".who")).to_contain_text("signed in as")

    page.goto(f"/ui?project={chain}")
    expect(page.locator("table.hits a.ref")).to_have_count(4)
    # the search box suggests as you type (the datalist the script fills from /ui/suggest)
    page.fill("form.search input[name=q]", "finc")
    expect(page.locator(f'#suggestions option[value="{chain}/finch"]')).to_have_count(1)
    page.screenshot(path=SHOTS / "1-search.png", full_page=True)

    # ticking a facet applies it at once: no Search button pressed
    page.fill("form.search input[name=q]", "")
    with page.expect_navigation():
        page.check('fieldset[data-facet=kind] input[value="model"]')
    assert re.search(r"[?&]kind=model\b", page.url)
    expect(page.locator("table.hits a.ref")).to_have_count(2)  # finch v1 and v2
    page.screenshot(path=SHOTS / "2-facet.png", full_page=True)

    page.click(f'table.hits a.ref:text-is("{chain}/finch@v1")')
    page.wait_for_url(f"**/ui/artifacts/{chain}/finch/versions/v1")
    graph = page.locator(".lineage-view svg")
    expect(graph).to_be_visible()
    # readable: drawn at its own size (11 pt labels), not shrunk to fit the column
    natural = float((graph.get_attribute("width") or "0").removesuffix("pt")) * 4 / 3
    box = graph.bounding_box()
    assert box is not None and abs(box["width"] - natural) < 2, (box, natural)
    page.click("button[data-zoom=in]")
    expect(page.locator(".lineage-view")).to_have_attribute("data-scale", "1.25")
    page.click("button[data-zoom=reset]")
    page.screenshot(path=SHOTS / "3-version.png", full_page=True)

    # a node of the graph is a link: the dataset it was trained on
    page.locator(".lineage-view a", has_text=f"{chain}/birds@v1").click()
    page.wait_for_url(f"**/ui/artifacts/{chain}/birds/versions/v1")
    expect(page.locator("h1").first).to_contain_text(f"{chain}/birds@v1")
    # its card, rendered from README.md with the HTML and the javascript: link left inert
    expect(page.locator(".card strong")).to_have_text("80 finches")
    expect(page.locator(".card table td").first).to_have_text("wingspan_cm")
    assert page.title() != "owned" and page.locator(".card a").count() == 0
    page.screenshot(path=SHOTS / "4-clicked-node-card.png", full_page=True)

    # a CSV file previewed: its first rows as a table
    page.click('table.files a:text-is("birds.csv")')
    page.wait_for_url("**/birds/versions/v1/files/birds.csv")
    expect(page.locator("table.csv thead th")).to_have_text(
        ["species", "wingspan_cm", "count"])
    expect(page.locator("table.csv tbody tr")).to_have_count(50)
    expect(page.locator("table.csv tbody tr").first.locator("td")).to_have_text(
        ["finch-0", "20", "0"])
    page.screenshot(path=SHOTS / "5-csv-preview.png", full_page=True)
    page.goto(f"/ui/artifacts/{chain}/birds/versions/v1/files/wing.png")  # an image, shown
    expect(page.locator("img.preview")).to_be_visible()
    assert page.locator("img.preview").evaluate("img => img.naturalWidth") == 40

    page.goto(f"/ui/artifacts/{chain}/birds")  # the artifact shows its latest card too
    expect(page.locator(".card strong")).to_have_text("80 finches")

    # compare finch's two versions: the artifact page ticks the newest two
    page.goto(f"/ui/artifacts/{chain}/finch")
    page.click("table.versions button[type=submit]")
    page.wait_for_url("**/ui/compare?*")
    top1 = page.locator("table.compare tr", has=page.locator("th", has_text="top1"))
    expect(top1).to_have_class("differs")
    expect(top1.locator("td")).to_have_text(["0.86", "0.83"])
    expect(page.locator("table.compare tr", has=page.locator("th", has_text="python"))
           ).to_have_class("same")
    page.check("input.only-differences")
    expect(page.locator("table.compare tr.same").first).to_be_hidden()
    page.screenshot(path=SHOTS / "6-compare.png", full_page=True)
    context.close()
    assert not errors, errors  # no script error and nothing the CSP refused


def _until(check: Callable[[], bool]) -> None:
    """Until the api shows what was just sent (the ledger records it a moment later)."""
    deadline = time.monotonic() + 90
    while not check():
        assert time.monotonic() < deadline, "not recorded in 90 s"
        time.sleep(0.3)


def _facet(**fields: object) -> dict[str, object]:
    return {"_producer": "https://example.org/producer",
            "_schemaURL": "https://openlineage.io/spec/facets/x", **fields}


def test_an_openlineage_dataset_shows_its_schema_and_column_lineage(
        browser: Browser, api: Service) -> None:
    """A run's output with a (nested) schema facet and a columnLineage facet, sent through
    the api's OpenLineage route: its version page shows both as tables."""
    project, ns = f"uiol-{uuid.uuid4().hex[:8]}", f"s3://lake-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=api.url, timeout=60,
                      headers={"Authorization": f"Bearer {API_TOKEN}"}) as http:
        reply = http.put(f"/v1/projects/{project}", json={"openlineage": {"namespaces": [ns]}})
        assert reply.status_code == 202, reply.text
        _until(lambda: ns in str(http.get(f"/v1/projects/{project}").json().get("openlineage")))
        lineage = {"orders_total": {"inputFields": [
            {"namespace": ns, "name": "orders", "field": "amount", "transformations": [
                {"type": "DIRECT", "subtype": "AGGREGATION", "description": "sum"}]}]}}
        event = {
            "eventType": "COMPLETE", "eventTime": "2026-12-03T08:00:00.000Z",
            "producer": "https://example.org/producer",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "ui", "name": "totals"},
            "inputs": [], "outputs": [{"namespace": ns, "name": "totals", "facets": {
                "schema": _facet(fields=[
                    {"name": "day", "type": "DATE", "description": "the day summed"},
                    {"name": "customer", "type": "STRUCT", "fields": [
                        {"name": "id", "type": "BIGINT"}]},
                    {"name": "orders_total", "type": "DECIMAL(12,2)"}]),
                "columnLineage": _facet(fields=lineage)}}]}
        posted = http.post("/api/v1/lineage", json=event)
        assert posted.status_code in (200, 202), posted.text
        [version] = posted.json()["versions"]
        assert version["artifact"].startswith(f"{project}/"), version
        _until(lambda: http.get(f"/v1/artifacts/{version['artifact']}/versions/v1"
                                ).status_code == 200)

    context = browser.new_context(base_url=api.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/ui/login")
    page.fill("input[name=token]", API_TOKEN)
    page.click("form.login button[type=submit]")
    page.goto(f"/ui/artifacts/{version['artifact']}/versions/v1")
    expect = playwright_api.expect
    rows = page.locator("table.schema tbody tr")
    expect(rows.locator("td:first-child")).to_have_text(
        ["day", "customer", "customer.id", "orders_total"])
    expect(rows.first.locator("td")).to_have_text(["day", "DATE", "the day summed"])
    lineage_row = page.locator("table.column-lineage tbody tr")
    expect(lineage_row).to_have_count(1)
    expect(lineage_row.locator("td")).to_have_text(
        ["orders_total", f"{ns}/orders · amount", "DIRECT · AGGREGATION · sum"])
    made_from = page.locator("ul.links li").first  # the job run, as words, not a JSON dump
    expect(made_from).to_contain_text("produced_by code openlineage://")
    expect(made_from).not_to_contain_text('"commit"')
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "7-openlineage-schema.png", full_page=True)
    context.close()
