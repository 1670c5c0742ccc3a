"""Helpers of the Product API tests: settings with every Product API PUBLIC, seeded apps, validators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft4Validator

from kaimen.apis.product.formats import SWAGGER_FORMATS
from kaimen.apis.product.spec import PRODUCT_APIS, ProductApi
from kaimen.settings import Settings
from tests.support import REPO, SPECS, client_for, lifespan, load_json

SHARED_SPECS = SPECS / "uk-opendata-v2"
PACKAGED_SPECS = REPO / "src" / "kaimen" / "apis" / "product" / "specs"
KAIMEN = REPO / ".venv" / "bin" / "kaimen"
PUBLIC_APIS = {api.name: {"tier": "PUBLIC"} for api in PRODUCT_APIS}


def public_settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    """Tier policy is not what these tests check: every Product API is PUBLIC."""
    return make_settings(database_url=database_url, apis=PUBLIC_APIS)


def spec_path(api: ProductApi) -> Path:
    """The reference Swagger file: ../shared's when present, else the packaged copy."""
    shared = SHARED_SPECS / api.spec_file
    return shared if shared.exists() else PACKAGED_SPECS / api.spec_file


@cache
def _operation_responses(file_name: str) -> dict[str, Any]:
    api = next(a for a in PRODUCT_APIS if a.spec_file == file_name)
    spec = load_json(spec_path(api))
    (path,) = spec["paths"]
    responses: dict[str, Any] = spec["paths"][path]["get"]["responses"]
    return responses


def response_validator(api: ProductApi, status: int | str) -> Draft4Validator:
    """The schema the Swagger file gives the GET response of ``status`` (``default`` when not listed),
    its formats checked as Swagger 2.0 defines them (the same checker ``products load`` uses)."""
    responses = _operation_responses(api.spec_file)
    response = responses.get(str(status), responses["default"])
    return Draft4Validator(response["schema"], format_checker=SWAGGER_FORMATS)


def assert_conforms(api: ProductApi, response: httpx.Response) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in response_validator(api, response.status_code).iter_errors(response.json())
    ]
    assert errors == [], errors[:5]


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    from kaimen.app import create_app

    app = create_app(settings)
    async with lifespan(app), client_for(app) as client:
        yield app, client
