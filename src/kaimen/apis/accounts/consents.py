"""The account-access consents and their lifecycle (UK OB v3.1.11 Account and Transaction API Profile,
"Consent Authorisation", "Account Access Consent Status", "Consent Re-authentication").

    POST (TPP)  ──► AwaitingAuthorisation ──authorise──► Authorised ──revoke (customer)──► Revoked
                                          └──reject────► Rejected
    DELETE (TPP), in any status: the consent is gone.

Every status change is one conditional UPDATE (``WHERE status = <expected>``, and unexpired where the
change needs it), so of two concurrent changes only one takes effect, on SQLite (BEGIN IMMEDIATE) and
PostgreSQL (the second UPDATE re-reads the row once the first commits) alike. Each change emits its
named event (kaimen.events) after the commit.

Expiry: v3.1.11's Status enum has no ``Expired`` (OBReadConsentResponse1 Data.Status: Authorised,
AwaitingAuthorisation, Rejected, Revoked), so the stored status is kept and a consent past its
ExpirationDateTime is reported as it stands, its ExpirationDateTime telling the TPP it has lapsed.
Expiry is enforced wherever the consent is used: it can be neither authorised, nor re-authenticated,
nor read from (``get_for_authorisation``, ``authorise``, ``reauthorise`` and ``active`` all refuse it).

ConsentIds are 192 random bits (STYLE.md: ids are random and unguessable).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, select

from kaimen.apis.accounts.consent_request import ConsentRequest, DateTimeField
from kaimen.apis.accounts.models import AccountAccessConsent
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
from kaimen.events import CONSENT_AUTHORISED, CONSENT_REJECTED, CONSENT_REVOKED
from kaimen.store.bounded import BoundedDict
from kaimen.store.db import Database
from kaimen.store.direct import stored_json, stored_time
from kaimen.store.types import utcnow

ID_PREFIX = "aac-"


class Status(StrEnum):
    AWAITING_AUTHORISATION = "AwaitingAuthorisation"
    AUTHORISED = "Authorised"
    REJECTED = "Rejected"
    REVOKED = "Revoked"


@dataclass(frozen=True, slots=True)
class Consent:
    consent_id: str
    client_id: str
    status: Status
    permissions: tuple[str, ...]
    expiration: DateTimeField | None
    transaction_from: DateTimeField | None
    transaction_to: DateTimeField | None
    created_at: datetime
    status_updated_at: datetime
    customer_id: str | None
    account_ids: tuple[str, ...]

    def expired(self, now: datetime) -> bool:
        return self.expiration is not None and self.expiration.at <= now


def new_consent_id() -> str:
    return ID_PREFIX + secrets.token_urlsafe(24)


def _field(text: str | None, at: datetime | None) -> DateTimeField | None:
    return DateTimeField(text, at) if text is not None and at is not None else None


def _view(row: AccountAccessConsent) -> Consent:
    return Consent(
        consent_id=row.id,
        client_id=row.client_id,
        status=Status(row.status),
        permissions=tuple(row.permissions),
        expiration=_field(row.expiration_text, row.expires_at),
        transaction_from=_field(row.transaction_from_text, row.transaction_from),
        transaction_to=_field(row.transaction_to_text, row.transaction_to),
        created_at=row.created_at,
        status_updated_at=row.status_updated_at,
        customer_id=row.customer_id,
        account_ids=tuple(row.account_ids),
    )


def _unexpired(now: datetime) -> ColumnElement[bool]:
    return unexpired(AccountAccessConsent, now)


class AccountAccessConsents:
    def __init__(self, db: Database, events: Events) -> None:
        self.db = db
        self.events = events

    # --- the TPP's resource -------------------------------------------------------------------------

    async def create(self, client_id: str, request: ConsentRequest) -> Consent:
        """A new consent, AwaitingAuthorisation ("The account-access-consent resource that is created
        successfully must have the following Status code-list enumeration: AwaitingAuthorisation")."""
        now = utcnow()
        row = AccountAccessConsent(
            id=new_consent_id(),
            client_id=client_id,
            status=Status.AWAITING_AUTHORISATION.value,
            permissions=list(request.permissions),
            expiration_text=request.expiration.text if request.expiration else None,
            expires_at=request.expiration.at if request.expiration else None,
            transaction_from_text=request.transaction_from.text if request.transaction_from else None,
            transaction_from=request.transaction_from.at if request.transaction_from else None,
            transaction_to_text=request.transaction_to.text if request.transaction_to else None,
            transaction_to=request.transaction_to.at if request.transaction_to else None,
            created_at=now,
            status_updated_at=now,
            customer_id=None,
            account_ids=[],
        )
        async with self.db.write() as session:
            session.add(row)
        return _view(row)

    async def get(self, consent_id: str, client_id: str) -> Consent | None:
        """The consent, to the TPP that created it only; None for anyone else and for unknown ids."""
        consent = await self._find(consent_id)
        return consent if consent is not None and consent.client_id == client_id else None

    async def held_by_another(self, consent_id: str, client_id: str) -> bool:
        """Whether ``consent_id`` is a consent of another TPP than ``client_id`` (for its 403)."""
        return await held_by_another(self.db, AccountAccessConsent, consent_id, client_id)

    async def delete(self, consent_id: str, client_id: str) -> bool:
        """The TPP's DELETE: the consent is gone, whatever its status. False when there was none of
        this TPP's."""
        return await delete_consent(self.db, self.events, AccountAccessConsent, consent_id, client_id)

    # --- the authorization flow ---------------------------------------------------------------------

    async def get_for_authorisation(self, consent_id: str, client_id: str) -> Consent | None:
        """The consent named by a PAR request's ``openbanking_intent_id``, when ``client_id`` may have it
        authorised: its own, unexpired, and AwaitingAuthorisation or (profile, "Consent
        Re-authentication": "The account-access-consent has a status of Authorised and The
        ExpirationDateTime ... has not elapsed") Authorised. None otherwise."""
        consent = await self._find(consent_id)
        return consent if may_be_authorised(consent, client_id, utcnow()) else None

    async def authorise(self, consent_id: str, customer_id: str, account_ids: list[str]) -> bool:
        """The customer approved it and chose ``account_ids``: AwaitingAuthorisation -> Authorised.
        True for the one call that made the change; False if the consent is gone, expired or no longer
        awaiting authorisation (another authorisation won, or it was rejected)."""
        now = utcnow()
        return await self._change(
            consent_id,
            CONSENT_AUTHORISED,
            [AccountAccessConsent.status == Status.AWAITING_AUTHORISATION.value, _unexpired(now)],
            status=Status.AUTHORISED.value,
            status_updated_at=now,
            customer_id=customer_id,
            account_ids=_accounts(account_ids),
        )

    async def reauthorise(self, consent_id: str, customer_id: str, account_ids: list[str]) -> bool:
        """Re-authentication of an Authorised, unexpired consent by the customer who authorised it
        (profile, "Consent Re-authentication"); the status stays Authorised and the account choice is
        the one made now (profile, "Changes to Selected Account(s)": changes "may be carried out
        directly with the ASPSP")."""
        return await self._change(
            consent_id,
            CONSENT_AUTHORISED,
            reauthentication(AccountAccessConsent, customer_id, utcnow()),
            account_ids=_accounts(account_ids),
        )

    async def reject(self, consent_id: str) -> bool:
        """The customer denied it: AwaitingAuthorisation -> Rejected."""
        return await self._change(
            consent_id,
            CONSENT_REJECTED,
            [AccountAccessConsent.status == Status.AWAITING_AUTHORISATION.value],
            status=Status.REJECTED.value,
            status_updated_at=utcnow(),
        )

    # --- the customer's dashboard -------------------------------------------------------------------

    async def revoke(self, consent_id: str, customer_id: str) -> bool:
        """The customer revoked it in the dashboard: Authorised -> Revoked (issue 4, item 5), only by the
        customer who authorised it (the dashboard's consent id comes from a form, so it is checked
        here, never trusted). v3.1.11 itself keeps the status unchanged on an access revocation
        (profile, "Access Revocation") and marks Revoked "not applicable for the resource created
        after Ver 3.1.4"; Kaimen follows its issue here, and the token revocation hangs off
        consent.revoked."""
        return await self._change(
            consent_id,
            CONSENT_REVOKED,
            [
                AccountAccessConsent.status == Status.AUTHORISED.value,
                AccountAccessConsent.customer_id == customer_id,
            ],
            status=Status.REVOKED.value,
            status_updated_at=utcnow(),
        )

    async def for_customer(self, customer_id: str) -> list[Consent]:
        """The consents ``customer_id`` authorised that still give access (Authorised, unexpired), for
        the dashboard's list, oldest authorisation first."""
        query = (
            select(AccountAccessConsent)
            .where(
                AccountAccessConsent.customer_id == customer_id,
                AccountAccessConsent.status == Status.AUTHORISED.value,
                _unexpired(utcnow()),
            )
            .order_by(AccountAccessConsent.status_updated_at, AccountAccessConsent.id)
        )
        async with self.db.read() as session:
            return [_view(row) for row in (await session.execute(query)).scalars()]

    # --- the AIS resources --------------------------------------------------------------------------

    async def active(self, consent_id: str) -> Consent | None:
        """The consent an access token carries, when it may be read from: Authorised and unexpired
        (checked on every call). The caller compares ``client_id`` and ``customer_id`` with the
        token's and serves only ``account_ids`` within ``permissions``."""
        consent = await self._find(consent_id)
        if consent is None or consent.status is not Status.AUTHORISED or consent.expired(utcnow()):
            return None
        return consent

    # --- storage ------------------------------------------------------------------------------------

    async def _find(self, consent_id: str) -> Consent | None:
        """One plain-SQL read (kaimen.store.direct: on SQLite on the event loop's own connection), no
        ORM object built: every AIS call reads its consent afresh, so this is on the hot path. A row
        read before gives back the (frozen) record decoded then."""
        if not _ID.fullmatch(consent_id):
            return None
        rows = await self.db.direct.rows(
            "SELECT client_id, status, permissions, expiration_text, expires_at, transaction_from_text, "
            "transaction_from, transaction_to_text, transaction_to, created_at, status_updated_at, "
            "customer_id, account_ids FROM account_access_consents WHERE id = :id",
            {"id": consent_id},
        )
        if not rows:
            return None
        # The whole row: a consent changed in any column is a new key.
        return _READ.built((consent_id, *rows[0]), _decoded)

    async def _change(
        self, consent_id: str, event: str, conditions: list[ColumnElement[bool]], **values: Any
    ) -> bool:
        return await change_status(
            self.db, self.events, AccountAccessConsent, consent_id, event, conditions, **values
        )


def _decoded(key: tuple[Any, ...]) -> Consent:
    """The consent id and a row of ``_find``'s SELECT, decoded as the model's types decode them
    (UTC-aware datetimes, JSON lists)."""
    (consent_id, client_id, status, permissions, expiration_text, expires_at, from_text, from_at,
     to_text, to_at, created_at, status_updated_at, customer_id, account_ids) = key  # fmt: skip
    created, updated = stored_time(created_at), stored_time(status_updated_at)
    assert created is not None and updated is not None  # NOT NULL columns
    return Consent(
        consent_id=consent_id,
        client_id=client_id,
        status=Status(status),
        permissions=tuple(stored_json(permissions)),
        expiration=_field(expiration_text, stored_time(expires_at)),
        transaction_from=_field(from_text, stored_time(from_at)),
        transaction_to=_field(to_text, stored_time(to_at)),
        created_at=created,
        status_updated_at=updated,
        customer_id=customer_id,
        account_ids=tuple(stored_json(account_ids)),
    )


# Consents read lately, by their whole row (immutable records; see ``_find``): every AIS call reads its
# consent afresh, and decoding the row cost as much as reading it.
_READ = BoundedDict[Consent](10_000)


def _accounts(account_ids: list[str]) -> list[str]:
    """The profile, "Changes to Selected Account(s)": "The PSU must select the accounts to which the
    consent should be applied at the point of consent authorisation"."""
    chosen = sorted(set(account_ids))
    if not chosen:
        raise ValueError("an authorised consent needs at least one account")
    return chosen
