"""The version page's reading of OpenLineage facets: schema and column lineage (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from cairn.api.ui.openlineage_view import (
    ColumnLineage,
    ColumnSource,
    SchemaField,
    column_lineage,
    schema,
)


def _extra(**facets: Any) -> dict[str, Any]:
    return {"openlineage": {"namespace": "s3://lake", "name": "t", "facets": facets}}


def test_nested_fields_get_dotted_names() -> None:
    got = schema(_extra(schema={"fields": [
        {"name": "a", "type": "STRUCT", "fields": [{"name": "b", "type": "INT",
                                                     "description": "inner"}]},
        {"name": "c"}]}))
    assert got == [SchemaField("a", "STRUCT", ""), SchemaField("a.b", "INT", "inner"),
                   SchemaField("c", "", "")]


def test_column_lineage_names_inputs_and_how() -> None:
    got = column_lineage(_extra(columnLineage={"fields": {"total": {
        "inputFields": [{"namespace": "s3://lake", "name": "orders", "field": "amount",
                         "transformations": [{"type": "DIRECT", "subtype": "AGGREGATION"}]},
                        {"field": "x"}],
        "transformationDescription": "sum"}}}))
    assert got == [ColumnLineage("total", [
        ColumnSource("s3://lake/orders", "amount", "DIRECT · AGGREGATION"),
        ColumnSource("", "x", "")], "sum")]


@pytest.mark.parametrize("extra", [
    None, {}, "text", {"openlineage": []}, {"openlineage": {"facets": "x"}},
    _extra(schema=[1]), _extra(schema={"fields": [1, {"type": "INT"}, {"name": 3}]}),
    _extra(columnLineage={"fields": [1]}),
    _extra(columnLineage={"fields": {"f": 1, "g": {"inputFields": "x"}}}),
])
def test_anything_malformed_is_left_out(extra: Any) -> None:
    assert schema(extra) == []
    assert column_lineage(extra) in ([], [ColumnLineage("g", [], "")])
