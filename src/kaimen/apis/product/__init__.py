"""PLACEHOLDER: replaced by the Product API work."""
from __future__ import annotations

from typing import Any

from kaimen.errors.render import Family
from kaimen.gateway.apis import Api

PRODUCT_APIS = {
    "opendata.pca": ("/open-banking/v2.4/personal-current-accounts", "application/prs.openbanking.opendata.v2.4+json"),
    "opendata.bca": ("/open-banking/v2.4/business-current-accounts", "application/prs.openbanking.opendata.v2.4+json"),
    "opendata.atm": ("/open-banking/v2.3/atms", "application/prs.openbanking.opendata.v2.3+json"),
    "opendata.branch": ("/open-banking/v2.3/branches", "application/prs.openbanking.opendata.v2.3+json"),
}


def product_apis(settings: Any) -> list[Api]:
    return [
        Api(name=name, path=path, family=Family.OPENDATA, media_type=media, policy=settings.apis[name],
            cacheable=True)
        for name, (path, media) in PRODUCT_APIS.items()
    ]


def product_routes(products: Any) -> list[Any]:
    return []
