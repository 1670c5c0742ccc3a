"""The AIS resources in the router (wired in kaimen.app, next to the consent routes). The gateway
already treats every path under the base path as the Account API (routes.account_apis); a path not
listed here answers 404 in the OB error shape."""

from __future__ import annotations

from starlette.routing import Route

from kaimen.apis.accounts.ais_resource import AisResource
from kaimen.apis.accounts.resource import BASE_PATH

_ACCOUNT = f"{BASE_PATH}/accounts/{{AccountId}}"


def ais_routes(resource: AisResource) -> list[Route]:
    return [
        Route(f"{BASE_PATH}/accounts", resource.accounts, methods=["GET"]),
        Route(_ACCOUNT, resource.account, methods=["GET"]),
        Route(f"{_ACCOUNT}/balances", resource.account_balances, methods=["GET"]),
        Route(f"{_ACCOUNT}/transactions", resource.account_transactions, methods=["GET"]),
        Route(f"{_ACCOUNT}/product", resource.account_product, methods=["GET"]),
        Route(f"{_ACCOUNT}/parties", resource.account_parties, methods=["GET"]),
        Route(f"{BASE_PATH}/party", resource.party, methods=["GET"]),
        Route(f"{BASE_PATH}/balances", resource.balances, methods=["GET"]),
        Route(f"{BASE_PATH}/transactions", resource.transactions, methods=["GET"]),
    ]
