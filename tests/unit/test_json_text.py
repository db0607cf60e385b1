"""json_text gives exactly what `json` gives, values and types, on every JSON text."""

from __future__ import annotations

import json
from typing import Any

from cairn.core.domain import json_text
from hypothesis import given
from hypothesis import strategies as st

leaves = (st.none() | st.booleans() | st.text()
          | st.integers(min_value=-(2**80), max_value=2**80)
          | st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=20)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and (a == b or repr(a) == repr(b))


@given(values)
def test_loads_equals_json_loads_on_what_json_prints(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, indent=1)):
        assert _same(json_text.loads(text), json.loads(text))


def test_the_cases_orjson_gets_wrong_or_refuses_go_to_json() -> None:
    for text in ("123456789012345678901234567890", "[-18446744073709551617]", "1E400",
                 '{"a": "\\ud800"}', "9223372036854775808"):
        assert _same(json_text.loads(text), json.loads(text)), text
