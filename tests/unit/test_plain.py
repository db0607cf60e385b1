"""events.plain: the fast path for fastavro's exact types gives what the general path gives."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import OrderedDict
from typing import Any

from cairn.core.domain.events import plain

WHEN = dt.datetime(2026, 12, 3, 23, 59, 1, 250000, tzinfo=dt.UTC)
ID = uuid.UUID("0190f8a0-0000-7000-8000-000000000001")


def test_plain_copies_leaves_and_converts_the_rest() -> None:
    record: dict[str, Any] = {
        "s": "x", "i": 3, "f": 1.5, "b": True, "n": None, "when": WHEN, "id": ID,
        "payload": ("dev.cairn.events.Published", {"at": WHEN, "tags": ("a", "b")}),
        "pair": ("not.a.branch", 1), "nested": [[WHEN, {"id": ID}], OrderedDict(k=WHEN)],
    }
    out = plain(record)
    ms = int(WHEN.timestamp() * 1000)
    assert out == {
        "s": "x", "i": 3, "f": 1.5, "b": True, "n": None, "when": ms, "id": str(ID),
        "payload": ("dev.cairn.events.Published", {"at": ms, "tags": ["a", "b"]}),
        "pair": ["not.a.branch", 1], "nested": [[ms, {"id": str(ID)}], {"k": ms}],
    }
    assert type(out["payload"]) is tuple and type(out["nested"][1]) is dict
    assert out is not record and out["nested"][0] is not record["nested"][0]  # a copy
