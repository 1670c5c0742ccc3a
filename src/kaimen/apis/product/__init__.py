"""The Product API (phase 1): UK Open Data v2 PCA 2.4, BCA 2.4, ATM 2.3 and Branch 2.3.

Each API is one Swagger file (``specs/``) and one endpoint answering GET and HEAD; the data behind
them lives in kaimen.apis.product.store and is replaced with ``kaimen products load FILE``.
"""

from __future__ import annotations

from starlette.routing import Route

from kaimen.apis.product.handler import product_endpoint
from kaimen.apis.product.spec import PRODUCT_APIS
from kaimen.apis.product.store import ProductStore
from kaimen.errors.render import Family
from kaimen.gateway.apis import Api
from kaimen.settings import Settings


def product_apis(settings: Settings) -> list[Api]:
    """The gateway's view of the Product APIs: path, error family (below the path too), media type,
    policy, cacheable."""
    return [
        Api(
            name=api.name,
            path=api.path,
            family=Family.OPENDATA,
            media_type=api.media_type,
            policy=settings.apis[api.name],
            cacheable=True,
            # Issue 2 item 6: the Product API answers errors in the Open Data v2 shape, "404 and 405
            # included", so a path below an endpoint (``/atms/ATM-1``) gets the Open Data 404.
            errors_below=True,
        )
        for api in PRODUCT_APIS
    ]


def product_routes(products: ProductStore) -> list[Route]:
    # Starlette answers HEAD wherever GET is allowed; the endpoint leaves the body out for HEAD.
    return [Route(api.path, product_endpoint(products, api), methods=["GET"]) for api in PRODUCT_APIS]
