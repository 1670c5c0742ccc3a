"""The funds-confirmation consents and their lifecycle (UK OB v3.1.11 Confirmation of Funds API
Profile, "Consent Status"; the spec file's OBFundsConfirmationConsentResponse1 Data.Status enum:
Authorised, AwaitingAuthorisation, Rejected, Revoked).

    POST (TPP)  ──► AwaitingAuthorisation ──authorise──► Authorised ──revoke (customer)──► Revoked
                                          └──reject────► Rejected   └──reauthorise──┘
    DELETE (TPP), in any status: the consent is gone.

Re-authentication (profile, "Consent Re-authentication"): "The funds-confirmation-consent resource is
a long lived consent. A funds-confirmation-consent can be re-authenticated if: the
funds-confirmation-consent resource has a status of Authorised and The ExpirationDateTime, if
specified, has not elapsed". The same rule as the account-access consents', so the same steps
(kaimen.apis.consent_lifecycle: ``may_be_authorised``, ``reauthentication``).

As the account-access consents (kaimen.apis.accounts.consents): every status change is one conditional
UPDATE (``WHERE status = <expected>``, unexpired where the change needs it), so of two concurrent
changes only one takes effect, on SQLite and PostgreSQL alike; each change emits the same named event
(consent.authorised / rejected / revoked / deleted) with the same payload, ``ConsentChanged``, after the
commit, so the tokens issued under a consent that ends are revoked (kaimen.authz.server).

Expiry: the Status enum has no ``Expired``; a consent past its ExpirationDateTime keeps its status, is
reported as it stands, and can be neither authorised, nor re-authenticated, nor used
(``for_authorisation``, ``authorise``, ``reauthorise`` and ``active`` refuse it).

When the customer authorises it, the DebtorAccount is resolved to one of their ledger accounts
(kaimen.apis.funds.intents), whose AccountId is kept with the customer id: the funds check asks the core
about that account and no other. ConsentIds are 192 random bits (STYLE.md).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, select

from kaimen.apis.accounts.consent_request import DateTimeField
from kaimen.apis.consent_lifecycle import CONSENT_ID as _ID
from kaimen.apis.consent_lifecycle import (
    Events,
    change_status,
    delete_consent,
    held_by_another,
    may_be_authorised,
    reauthentication,
    unexpired,
)
from kaimen.apis.funds.models import FundsConfirmationConsent
from kaimen.apis.funds.requests import DebtorAccount, FundsConsentRequest
from kaimen.events import CONSENT_AUTHORISED, CONSENT_REJECTED, CONSENT_REVOKED
from kaimen.store.db import Database
from kaimen.store.types import utcnow

ID_PREFIX = "fcc-"


class Status(StrEnum):
    AWAITING_AUTHORISATION = "AwaitingAuthorisation"
    AUTHORISED = "Authorised"
    REJECTED = "Rejected"
    REVOKED = "Revoked"


@dataclass(frozen=True, slots=True)
class FundsConsent:
    consent_id: str
    client_id: str
    status: Status
    debtor_account: DebtorAccount
    expiration: DateTimeField | None
    created_at: datetime
    status_updated_at: datetime
    customer_id: str | None
    account_id: str | None  # the ledger account the DebtorAccount resolved to, once Authorised

    def expired(self, now: datetime) -> bool:
        return self.expiration is not None and self.expiration.at <= now


def new_consent_id() -> str:
    return ID_PREFIX + secrets.token_urlsafe(24)


def _view(row: FundsConfirmationConsent) -> FundsConsent:
    expiration = (
        DateTimeField(row.expiration_text, row.expires_at)
        if row.expiration_text is not None and row.expires_at is not None
        else None
    )
    return FundsConsent(
        consent_id=row.id,
        client_id=row.client_id,
        status=Status(row.status),
        debtor_account=DebtorAccount(
            row.debtor_scheme_name,
            row.debtor_identification,
            row.debtor_name,
            row.debtor_secondary_identification,
        ),
        expiration=expiration,
        created_at=row.created_at,
        status_updated_at=row.status_updated_at,
        customer_id=row.customer_id,
        account_id=row.account_id,
    )


def _unexpired(now: datetime) -> ColumnElement[bool]:
    return unexpired(FundsConfirmationConsent, now)


class FundsConfirmationConsents:
    def __init__(self, db: Database, events: Events) -> None:
        self.db = db
        self.events = events

    # --- the TPP's resource -------------------------------------------------------------------------

    async def create(self, client_id: str, request: FundsConsentRequest) -> FundsConsent:
        """A new consent, AwaitingAuthorisation (profile, "Consent Status": the consent is created
        with the status AwaitingAuthorisation)."""
        now = utcnow()
        debtor = request.debtor_account
        row = FundsConfirmationConsent(
            id=new_consent_id(),
            client_id=client_id,
            status=Status.AWAITING_AUTHORISATION.value,
            expiration_text=request.expiration.text if request.expiration else None,
            expires_at=request.expiration.at if request.expiration else None,
            debtor_scheme_name=debtor.scheme_name,
            debtor_identification=debtor.identification,
            debtor_name=debtor.name,
            debtor_secondary_identification=debtor.secondary_identification,
            created_at=now,
            status_updated_at=now,
            customer_id=None,
            account_id=None,
        )
        async with self.db.write() as session:
            session.add(row)
        return _view(row)

    async def get(self, consent_id: str, client_id: str) -> FundsConsent | None:
        """The consent, to the TPP that created it only; None for anyone else and for unknown ids."""
        consent = await self._find(consent_id)
        return consent if consent is not None and consent.client_id == client_id else None

    async def held_by_another(self, consent_id: str, client_id: str) -> bool:
        """Whether ``consent_id`` is a consent of another TPP than ``client_id`` (for its 403)."""
        return await held_by_another(self.db, FundsConfirmationConsent, consent_id, client_id)

    async def delete(self, consent_id: str, client_id: str) -> bool:
        """The TPP's DELETE: the consent is gone, whatever its status. False when there was none of
        this TPP's."""
        return await delete_consent(self.db, self.events, FundsConfirmationConsent, consent_id, client_id)

    # --- the authorization flow ---------------------------------------------------------------------

    async def for_authorisation(self, consent_id: str, client_id: str) -> FundsConsent | None:
        """The consent named by a PAR request's ``openbanking_intent_id`` when ``client_id`` may have it
        authorised now: its own, unexpired, and AwaitingAuthorisation or (profile, "Consent
        Re-authentication") Authorised. None otherwise."""
        consent = await self._find(consent_id)
        return consent if may_be_authorised(consent, client_id, utcnow()) else None

    async def authorise(self, consent_id: str, customer_id: str, account_id: str) -> bool:
        """The customer approved it, its DebtorAccount being their ledger account ``account_id``:
        AwaitingAuthorisation -> Authorised. True for the one call that made the change; False if the
        consent is gone, expired or no longer awaiting authorisation."""
        now = utcnow()
        return await self._change(
            consent_id,
            CONSENT_AUTHORISED,
            [FundsConfirmationConsent.status == Status.AWAITING_AUTHORISATION.value, _unexpired(now)],
            status=Status.AUTHORISED.value,
            status_updated_at=now,
            customer_id=customer_id,
            account_id=account_id,
        )

    async def reauthorise(self, consent_id: str, customer_id: str, account_id: str) -> bool:
        """Re-authentication of an Authorised, unexpired consent by the customer who authorised it
        (profile, "Consent Re-authentication"); the status stays Authorised. ``account_id`` is the
        customer's ledger account the DebtorAccount resolves to now: the consent names one account,
        so a re-authentication cannot move it to another."""
        return await self._change(
            consent_id,
            CONSENT_AUTHORISED,
            reauthentication(FundsConfirmationConsent, customer_id, utcnow()),
            account_id=account_id,
        )

    async def reject(self, consent_id: str) -> bool:
        """The customer denied it: AwaitingAuthorisation -> Rejected."""
        return await self._change(
            consent_id,
            CONSENT_REJECTED,
            [FundsConfirmationConsent.status == Status.AWAITING_AUTHORISATION.value],
            status=Status.REJECTED.value,
            status_updated_at=utcnow(),
        )

    # --- the customer's dashboard -------------------------------------------------------------------

    async def for_customer(self, customer_id: str) -> list[FundsConsent]:
        """The consents ``customer_id`` authorised that still give access (Authorised, unexpired), for
        the dashboard's list, oldest authorisation first (as AccountAccessConsents.for_customer)."""
        query = (
            select(FundsConfirmationConsent)
            .where(
                FundsConfirmationConsent.customer_id == customer_id,
                FundsConfirmationConsent.status == Status.AUTHORISED.value,
                _unexpired(utcnow()),
            )
            .order_by(FundsConfirmationConsent.status_updated_at, FundsConfirmationConsent.id)
        )
        async with self.db.read() as session:
            return [_view(row) for row in (await session.execute(query)).scalars()]

    async def revoke(self, consent_id: str, customer_id: str) -> bool:
        """The customer revoked it in the dashboard: Authorised -> Revoked (the Status enum's Revoked),
        only by the customer who authorised it (the dashboard's consent id comes from a form, so it is
        checked here, never trusted). The tokens issued under it go with it (consent.revoked)."""
        return await self._change(
            consent_id,
            CONSENT_REVOKED,
            [
                FundsConfirmationConsent.status == Status.AUTHORISED.value,
                FundsConfirmationConsent.customer_id == customer_id,
            ],
            status=Status.REVOKED.value,
            status_updated_at=utcnow(),
        )

    # --- the funds confirmations --------------------------------------------------------------------

    async def active(self, consent_id: str) -> FundsConsent | None:
        """The consent an access token carries, when it may be used: Authorised and unexpired (read on
        every call). The caller compares ``client_id`` and ``customer_id`` with the token's."""
        consent = await self._find(consent_id)
        if consent is None or consent.status is not Status.AUTHORISED or consent.expired(utcnow()):
            return None
        return consent

    # --- storage ------------------------------------------------------------------------------------

    async def _find(self, consent_id: str) -> FundsConsent | None:
        if not _ID.fullmatch(consent_id):
            return None
        async with self.db.read() as session:
            row = await session.get(FundsConfirmationConsent, consent_id)
        return _view(row) if row is not None else None

    async def _change(
        self, consent_id: str, event: str, conditions: list[ColumnElement[bool]], **values: Any
    ) -> bool:
        return await change_status(
            self.db, self.events, FundsConfirmationConsent, consent_id, event, conditions, **values
        )
