"""The served spec documents the api's one error body on every operation (no services)."""

from __future__ import annotations

from cairn.api import openapi_contract
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
