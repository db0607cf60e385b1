"""The served spec documents the api's one error body on every operation (no services)."""

from __future__ import annotations

from cairn.api import openapi_contract
from cairn.core.domain.error_codes import CODES
from fastapi import FastAPI


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/things/{name}")
    async def read(name: str) -> dict[str, str]:
        return {"name": name}

    @app.put("/things/{name}", status_code=202)
    async def write(name: str) -> dict[str, str]:
        return {"name": name}

    openapi_contract.install(app)
    return app


def test_every_operation_documents_the_error_body() -> None:
    spec = _app().openapi()
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for method, codes in (("get", {"400", "401", "403", "404", "422", "503"}),
                          ("put", {"400", "401", "403", "404", "409", "413", "422", "503"})):
        responses = spec["paths"]["/things/{name}"][method]["responses"]
        errors = {code for code in responses if int(code) >= 400}
        assert errors == codes, method
        for code in codes:
            assert responses[code]["content"]["application/json"]["schema"] == error
    schemas = spec["components"]["schemas"]
    assert {"ErrorBody", "ErrorDetail", "Publish"} <= set(schemas)
    assert "HTTPValidationError" not in schemas  # FastAPI's 422 body: errors.py never sends it
    assert schemas["ErrorDetail"]["required"] == ["reason", "message"]


def test_the_spec_publishes_every_code_the_api_answers_with() -> None:
    spec = _app().openapi()
    codes = spec["x-error-codes"]
    assert codes["name_taken"] == {"status": 409, "meaning": CODES["name_taken"].meaning}
    assert codes["invalid_name"]["status"] == 400 and codes["unknown_stage"]["status"] == 422
    assert codes["http_<status>"]["status"] is None
    assert "blob_too_large" not in codes  # answered as too_large, which is listed
    assert "stage_order" not in codes  # only ever a refused event's reason, never an answer
    reason = spec["components"]["schemas"]["ErrorDetail"]["properties"]["reason"]
    assert "x-error-codes" in reason["description"]
