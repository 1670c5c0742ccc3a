"""The UK Open Data v2 Swagger files Kaimen serves, and what is read from them.

The files under ``specs/`` are byte-identical copies of ``../shared/specs/uk-opendata-v2/`` (a deployed
bank has no ``../shared``); a test keeps them equal. Swagger 2.0 inlines every schema, so each API's
200 response schema is self-contained and draft-4 compatible.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class ProductApi:
    """One Open Data API: the gateway name, the short name used in load files, its Swagger file."""

    name: str  # "opendata.pca": the key of settings.apis
    short: str  # "pca": the key in a product load file and in product_documents.api
    spec_file: str
    resource: str  # the array inside each Brand: "PCA", "BCA", "ATM", "Branch"

    @property
    def spec(self) -> dict[str, Any]:
        return swagger(self.spec_file)

    @property
    def path(self) -> str:
        (path,) = self.spec["paths"]
        return f"{self.spec['basePath']}{path}"

    @property
    def media_type(self) -> str:
        # Swagger 2.0 §"Swagger Object" produces: the one media type every operation answers with.
        return str(self.spec["produces"][0])

    @property
    def response_schema(self) -> dict[str, Any]:
        (path,) = self.spec["paths"]
        schema: dict[str, Any] = self.spec["paths"][path]["get"]["responses"]["200"]["schema"]
        return schema

    @property
    def data_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = self.response_schema["properties"]["data"]
        return schema


PRODUCT_APIS: tuple[ProductApi, ...] = (
    ProductApi("opendata.pca", "pca", "pca.2.4.0.swagger.json", "PCA"),
    ProductApi("opendata.bca", "bca", "bca.2.4.0.swagger.json", "BCA"),
    ProductApi("opendata.atm", "atm", "atml.2.3.0.swagger.json", "ATM"),
    ProductApi("opendata.branch", "branch", "bral.2.3.0.swagger.json", "Branch"),
)
BY_SHORT: dict[str, ProductApi] = {api.short: api for api in PRODUCT_APIS}


@cache
def swagger(file_name: str) -> dict[str, Any]:
    text = resources.files("kaimen.apis.product").joinpath("specs").joinpath(file_name).read_bytes()
    document: dict[str, Any] = orjson.loads(text)
    return document
