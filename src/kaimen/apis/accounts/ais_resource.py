"""The AIS resources, the TPP reading what the PSU consented to (UK OB v3.1.11 Account and
Transaction API), each a pipeline of named steps:

    GET /accounts                          authorised -> the chosen accounts -> OBReadAccount6
    GET /accounts/{AccountId}              authorised -> chosen account -> core.account -> OBReadAccount6
    GET /accounts/{AccountId}/balances     authorised -> chosen account -> core.balances -> OBReadBalance1
    GET /accounts/{AccountId}/transactions authorised -> chosen account -> transaction request
                                           -> core.transactions -> OBReadTransaction6 (paged)
    GET /accounts/{AccountId}/product      authorised -> chosen account -> core.product -> OBReadProduct2
    GET /accounts/{AccountId}/parties      authorised -> chosen account -> core.account_parties
                                           -> OBReadParty3
    GET /party                             authorised -> core.party -> OBReadParty2
    GET /balances                          authorised -> the chosen accounts -> their balances
    GET /transactions                      authorised -> the chosen accounts -> transaction request
                                           -> core.transactions -> OBReadTransaction6 (paged)

``authorised`` and ``Access.account`` are kaimen.apis.accounts.ais_access; bodies are built by
kaimen.apis.accounts.ais_views. Every core read names the token's customer, so even a mistake in the
consent's account list could not reach another customer's data; a chosen account the core does not
find among the customer's is refused exactly like one that was never chosen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kaimen.apis.accounts.ais_access import ACCOUNT_ID, Access, account_refused, authorised
from kaimen.apis.accounts.ais_errors import NoConsentAccount
from kaimen.apis.accounts.ais_permissions import Endpoint
from kaimen.apis.accounts.ais_query import page_links, read_transaction_request, transaction_query
from kaimen.apis.accounts.ais_transaction_views import transactions_body
from kaimen.apis.accounts.ais_views import (
    accounts_body,
    balances_body,
    parties_body,
    party_body,
    product_body,
)
from kaimen.apis.accounts.consents import AccountAccessConsents
from kaimen.apis.accounts.resource import BASE_PATH, MEDIA_TYPE
from kaimen.ledger.core import Account, CoreBanking, TransactionPage
from kaimen.ledger.errors import AccountNotFound, PartyNotFound
from kaimen.store.bounded import BoundedDict

T = TypeVar("T")
_JSON_HEADERS = {"content-type": MEDIA_TYPE}

# Transactions bodies encoded lately, by the page object the core answered (the sandbox ledger gives
# back the very same page while the accounts' entries are unchanged, kaimen.ledger.entry_pages) and
# everything else the body is made from: the grant, the URL and the TPP's echoed filters. The entry
# holds the page, so no other object can have its id while the entry lives; a core that
# builds a new page per call only misses. Encoding a page was 7% of an AIS call under load (py-spy);
# 500 bodies of 25 detailed entries are about 6 MB per worker.
_ENCODED = BoundedDict[tuple[TransactionPage, bytes]](500)


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), status_code=200, headers=_JSON_HEADERS)


async def owned(read: Awaitable[T]) -> T:
    """A core read of a chosen account; ``AccountNotFound`` becomes the one AccountId refusal."""
    try:
        return await read
    except AccountNotFound:
        raise account_refused() from None


class AisResource:
    def __init__(self, consents: AccountAccessConsents, core: CoreBanking, base_url: str) -> None:
        self.consents = consents
        self.core = core
        self.base = base_url + BASE_PATH

    def _account_url(self, account_id: str, tail: str = "") -> str:
        return f"{self.base}/accounts/{quote(account_id, safe='')}{tail}"

    async def _chosen(self, request: Request, endpoint: Endpoint) -> tuple[Access, str]:
        access = await authorised(request, self.consents, endpoint)
        return access, access.account(request.path_params[ACCOUNT_ID])

    async def _chosen_accounts(self, access: Access) -> list[Account]:
        """The customer's accounts the consent names, in the core's order."""
        chosen = set(access.consent.account_ids)
        return [a for a in await self.core.accounts(access.customer_id) if a.account_id in chosen]

    async def accounts(self, request: Request) -> Response:
        access = await authorised(request, self.consents, Endpoint.ACCOUNTS)
        accounts = await self._chosen_accounts(access)
        return _json(accounts_body(accounts, access.grant, f"{self.base}/accounts"))

    async def account(self, request: Request) -> Response:
        access, account_id = await self._chosen(request, Endpoint.ACCOUNT)
        account = await owned(self.core.account(access.customer_id, account_id))
        return _json(accounts_body([account], access.grant, self._account_url(account_id)))

    async def account_balances(self, request: Request) -> Response:
        access, account_id = await self._chosen(request, Endpoint.ACCOUNT_BALANCES)
        balances = await owned(self.core.balances(access.customer_id, account_id))
        return _json(balances_body(balances, access.grant, self._account_url(account_id, "/balances")))

    async def balances(self, request: Request) -> Response:
        access = await authorised(request, self.consents, Endpoint.BALANCES)
        balances = [
            balance
            for account in await self._chosen_accounts(access)
            for balance in await self.core.balances(access.customer_id, account.account_id)
        ]
        if not balances:
            raise NoConsentAccount("none of the consent's accounts is open")
        return _json(balances_body(balances, access.grant, f"{self.base}/balances"))

    async def account_transactions(self, request: Request) -> Response:
        access, account_id = await self._chosen(request, Endpoint.ACCOUNT_TRANSACTIONS)
        url = self._account_url(account_id, "/transactions")
        return await self._transactions(request, access, [account_id], url)

    async def transactions(self, request: Request) -> Response:
        access = await authorised(request, self.consents, Endpoint.TRANSACTIONS)
        account_ids = [a.account_id for a in await self._chosen_accounts(access)]
        return await self._transactions(request, access, account_ids, f"{self.base}/transactions")

    async def _transactions(
        self, request: Request, access: Access, account_ids: Sequence[str], url: str
    ) -> Response:
        wanted = read_transaction_request(request.query_params)
        query = transaction_query(wanted, access.consent, access.grant)
        page = await owned(self.core.transactions(access.customer_id, account_ids, query))

        def encoded(_key: object) -> tuple[TransactionPage, bytes]:
            links = page_links(url, wanted)
            return page, orjson.dumps(transactions_body(page, access.grant, links(page.page), links))

        kept = _ENCODED.built((id(page), access.grant, url, wanted.echoed), encoded)
        return Response(kept[1], status_code=200, headers=_JSON_HEADERS)

    async def account_product(self, request: Request) -> Response:
        access, account_id = await self._chosen(request, Endpoint.ACCOUNT_PRODUCT)
        product = await owned(self.core.product(access.customer_id, account_id))
        return _json(product_body(product, access.grant, self._account_url(account_id, "/product")))

    async def account_parties(self, request: Request) -> Response:
        access, account_id = await self._chosen(request, Endpoint.ACCOUNT_PARTIES)
        parties = await owned(self.core.account_parties(access.customer_id, account_id))
        return _json(parties_body(parties, access.grant, self._account_url(account_id, "/parties")))

    async def party(self, request: Request) -> Response:
        """OBReadParty2: the PSU; a bank that holds no party record for them answers an empty Data."""
        access = await authorised(request, self.consents, Endpoint.PARTY)
        try:
            party = await self.core.party(access.customer_id)
        except PartyNotFound:
            party = None
        return _json(party_body(party, access.grant, f"{self.base}/party"))
