"""A version's files as the UI shows them: the first bytes of a file as a preview (text, JSON
pretty-printed, CSV's first rows as a table, raster images by their own URL), and a card
(README.md, MODEL_CARD.md, ...) rendered from Markdown.

Markdown goes through markdown-it-py with raw HTML off: any HTML in the card is shown as
text and links with javascript:, vbscript: or file: schemes are dropped, so the output is
safe to put in the page. Only the start of a file is read: a preview of a 10 GB file costs
what one of 64 KiB does.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import PurePosixPath
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup

from cairn.core.adapters.blobstore import BlobStore

PREVIEW_BYTES = 64 * 1024
CARD_BYTES = 256 * 1024
IMAGE_BYTES = 10 * 1024 * 1024
CSV_ROWS = 50
CARDS = ("model_card.md", "dataset_card.md", "card.md", "readme.md")  # first found wins
# raster only: an SVG could carry script, so it is previewed as text
IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
          ".gif": "image/gif", ".webp": "image/webp"}
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


@dataclass
class Preview:
    kind: str  # "text" | "json" | "table" | "image" | "markdown" | "binary"
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    html: Markup | None = None
    truncated: bool = False


def find_file(files: Sequence[Mapping[str, Any]], path: str) -> Mapping[str, Any] | None:
    return next((f for f in files if f["path"] == path), None)


def card_file(files: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The version's card: the shallowest file with a card's name."""
    named = [f for f in files if PurePosixPath(f["path"]).name.lower() in CARDS]
    named.sort(key=lambda f: (f["path"].count("/"),
                              CARDS.index(PurePosixPath(f["path"]).name.lower())))
    return named[0] if named else None


def image_type(path: str) -> str | None:
    return IMAGES.get(PurePosixPath(path).suffix.lower())


def _head(blobs: BlobStore, sha256: str, limit: int) -> bytes:
    """Up to `limit` bytes from the blob's start (the rest is never read)."""
    taken, size = [], 0
    chunks = blobs.open(sha256)
    try:
        for chunk in chunks:
            taken.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return b"".join(taken)[:limit]


async def head(blobs: BlobStore, sha256: str, limit: int) -> bytes:
    return await asyncio.to_thread(_head, blobs, sha256, limit)


def render_markdown(text: str) -> Markup:
    return Markup(_markdown.render(text))


def preview(path: str, media_type: str | None, data: bytes, size: int) -> Preview:
    """What the first bytes of a file look like; `size` is the whole file's."""
    truncated = size > len(data)
    suffix = PurePosixPath(path).suffix.lower()
    if image_type(path):
        return Preview("image", truncated=size > IMAGE_BYTES)
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        if not truncated or exc.start < len(data) - 4:  # not just a cut multi-byte char
            return Preview("binary", truncated=truncated)
        text = data[:exc.start].decode()
    if suffix in (".csv", ".tsv") or media_type in ("text/csv", "text/tab-separated-values"):
        dialect = "excel-tab" if suffix == ".tsv" or "tab" in (media_type or "") else "excel"
        lines = text.splitlines()[:-1] if truncated else text.splitlines()
        rows = list(islice(csv.reader(io.StringIO("\n".join(lines)), dialect), CSV_ROWS + 1))
        return Preview("table", rows=rows[:CSV_ROWS + 1],
                       truncated=truncated or len(lines) > CSV_ROWS + 1)
    if suffix == ".json" or media_type == "application/json":
        if not truncated:
            try:
                return Preview("json", json.dumps(json.loads(text), indent=2, ensure_ascii=False))
            except ValueError:
                pass
        return Preview("text", text, truncated=truncated)
    if suffix in (".md", ".markdown") and not truncated:
        return Preview("markdown", html=render_markdown(text))
    return Preview("text", text, truncated=truncated)
