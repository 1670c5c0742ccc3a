"""The domestic payment consents and their lifecycle (UK OB v3.1.11 Payment Initiation API Profile,
"Payment Order Consent" status; the spec file's OBWriteDomesticConsentResponse5 Data.Status enum:
Authorised, AwaitingAuthorisation, Consumed, Rejected).

    POST (TPP) ──► AwaitingAuthorisation ──authorise──► Authorised ──payment──► Consumed
                                         └──reject────► Rejected

As the other consents (kaimen.apis.funds.consents): every status change is one conditional UPDATE
(``WHERE status = <expected>``), so of two concurrent changes only one takes effect, on SQLite and
PostgreSQL alike, and each emits the same named event (consent.authorised / rejected) with the same
payload, ``ConsentChanged``, after the commit.

Creation is idempotent (kaimen.apis.payments.idempotency): the key is claimed in the transaction that
inserts the consent, so a replay, or a race of identical requests, answers with the one consent the
first created, in its current state. ConsentIds are 192 random bits (STYLE.md).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

import orjson
from sqlalchemy import ColumnElement, Row, or_

from kaimen.apis.consent_lifecycle import CONSENT_ID as _ID
from kaimen.apis.consent_lifecycle import ConsentChanged, Events, change_status, held_by_another
from kaimen.apis.payments.consent_request import DomesticConsentRequest
from kaimen.apis.payments.idempotency import KeySweeper, claim, holder
from kaimen.apis.payments.models import DomesticPaymentConsent
from kaimen.events import CONSENT_AUTHORISED, CONSENT_REJECTED
from kaimen.ledger.money import Money
from kaimen.store.db import Database
from kaimen.store.direct import stored_time
from kaimen.store.types import utcnow

ID_PREFIX = "pdc-"
ENDPOINT = "domestic-payment-consents"


class Status(StrEnum):
    AWAITING_AUTHORISATION = "AwaitingAuthorisation"
    AUTHORISED = "Authorised"
    REJECTED = "Rejected"
    CONSUMED = "Consumed"


@dataclass(frozen=True, slots=True)
class PaymentConsent:
    consent_id: str
    client_id: str
    status: Status
    initiation: dict[str, Any]  # Data.Initiation as sent
    risk: dict[str, Any]  # Risk as sent
    extras: dict[str, Any]  # Data's other members as sent
    initiation_json: str  # the canonical JSON the payment's Initiation is compared with
    risk_json: str
    amount: Money
    authorise_by: datetime | None
    created_at: datetime
    status_updated_at: datetime
    customer_id: str | None
    debtor_account_id: str | None
    approved_digest: str | None
    step_up: bool

    def past_completion(self, now: datetime) -> bool:
        return self.authorise_by is not None and self.authorise_by <= now


def new_consent_id() -> str:
    return ID_PREFIX + secrets.token_urlsafe(24)


class _ConsentRow(NamedTuple):
    """A domestic_payment_consents row read directly (:data:`_BY_ID`), attribute for attribute."""

    id: str
    client_id: str
    status: str
    initiation: str
    risk: str
    extras: str
    amount_minor: int
    currency: str
    authorise_by: datetime | None
    created_at: datetime
    status_updated_at: datetime
    customer_id: str | None
    debtor_account_id: str | None
    approved_digest: str | None
    step_up: bool


# Every payment reads its consent first: one plain statement (kaimen.store.direct), no ORM session.
_BY_ID = f"SELECT {', '.join(_ConsentRow._fields)} FROM domestic_payment_consents WHERE id = :id"  # noqa: S608


def _direct_row(values: tuple[Any, ...]) -> _ConsentRow:
    row = _ConsentRow(*values)
    created, updated = stored_time(row.created_at), stored_time(row.status_updated_at)
    assert created is not None and updated is not None  # NOT NULL
    return row._replace(
        authorise_by=stored_time(row.authorise_by),
        created_at=created,
        status_updated_at=updated,
        step_up=bool(row.step_up),
    )


def consent_view(row: DomesticPaymentConsent | _ConsentRow | Row[Any]) -> PaymentConsent:
    """A consent read as a model, as :data:`_BY_ID` reads it, or as a Core row of every column."""
    return PaymentConsent(
        consent_id=row.id,
        client_id=row.client_id,
        status=Status(row.status),
        initiation=orjson.loads(row.initiation),
        risk=orjson.loads(row.risk),
        extras=orjson.loads(row.extras),
        initiation_json=row.initiation,
        risk_json=row.risk,
        amount=Money(row.amount_minor, row.currency),
        authorise_by=row.authorise_by,
        created_at=row.created_at,
        status_updated_at=row.status_updated_at,
        customer_id=row.customer_id,
        debtor_account_id=row.debtor_account_id,
        approved_digest=row.approved_digest,
        step_up=bool(row.step_up),
    )


def _before_completion(now: datetime) -> ColumnElement[bool]:
    return or_(DomesticPaymentConsent.authorise_by.is_(None), DomesticPaymentConsent.authorise_by > now)


class DomesticPaymentConsents:
    def __init__(self, db: Database, events: Events) -> None:
        self.db = db
        self.events = events
        self.sweeper = KeySweeper(db)

    # --- the TPP's resource -------------------------------------------------------------------------

    async def create(
        self,
        client_id: str,
        idempotency_key: str,
        request: DomesticConsentRequest,
        *,
        consent_id: str | None = None,
        now: datetime | None = None,
        rejected: bool = False,
        step_up: bool = False,
    ) -> tuple[PaymentConsent, bool]:
        """A new consent ``consent_id``, AwaitingAuthorisation (profile: "the ASPSP ... creates the
        resource with the status AwaitingAuthorisation"), or, for a replay of ``idempotency_key`` with
        the same body within 24 hours, the consent the first request created, as it stands now; and
        whether it is new. The risk engine scored the new consent before this call (it knew
        ``consent_id``): ``rejected`` creates it Rejected, ``step_up`` marks it for step-up, in the
        one transaction that claims the key, so a consent never exists unscored."""
        now = now or utcnow()
        status = Status.REJECTED if rejected else Status.AWAITING_AUTHORISATION
        async with self.db.write() as session:
            held = await claim(
                await session.connection(),
                client_id=client_id,
                endpoint=ENDPOINT,
                key=idempotency_key,
                digest=request.digest,
                new_resource_id=consent_id or new_consent_id(),
                now=now,
            )
            if held.fresh:
                row = DomesticPaymentConsent(
                    id=held.resource_id,
                    client_id=client_id,
                    status=status.value,
                    step_up=step_up and not rejected,
                    initiation=request.initiation,
                    risk=request.risk,
                    extras=request.extras,
                    amount_minor=request.amount.minor,
                    currency=request.amount.currency,
                    authorise_by=request.authorise_by,
                    created_at=now,
                    status_updated_at=now,
                    customer_id=None,
                    debtor_account_id=None,
                )
                session.add(row)
                created = consent_view(row)
            else:
                existing = await session.get(DomesticPaymentConsent, held.resource_id)
        if held.fresh:
            if rejected:  # as a customer's denial does (consent.rejected, after the commit)
                self.events.emit(
                    CONSENT_REJECTED, ConsentChanged(created.consent_id, client_id, None, status.value)
                )
            await self.sweeper.claimed(now)
            return created, True
        if existing is None:  # never: the key and its consent are written in one transaction
            raise LookupError("an idempotency key names a consent that does not exist")
        return consent_view(existing), False

    async def replay(
        self, client_id: str, idempotency_key: str, request: DomesticConsentRequest
    ) -> PaymentConsent | None:
        """The consent a replay of ``idempotency_key`` with this body names, as it stands now; None for
        a key not held (or held more than 24 hours ago). Raises IdempotencyKeyReused for another body.
        Read before the new request's own checks, as the payment's replay is."""
        held = await holder(
            self.db,
            client_id=client_id,
            endpoint=ENDPOINT,
            key=idempotency_key,
            digest=request.digest,
            now=utcnow(),
        )
        return None if held is None else await self._find(held)

    async def get(self, consent_id: str, client_id: str) -> PaymentConsent | None:
        """The consent, to the TPP that created it only; None for anyone else and for unknown ids."""
        consent = await self._find(consent_id)
        return consent if consent is not None and consent.client_id == client_id else None

    async def held_by_another(self, consent_id: str, client_id: str) -> bool:
        """Whether ``consent_id`` is a consent of another TPP than ``client_id`` (for its 403)."""
        return await held_by_another(self.db, DomesticPaymentConsent, consent_id, client_id)

    # --- the authorization flow ---------------------------------------------------------------------

    async def for_authorisation(self, intent_id: str, client_id: str) -> PaymentConsent | None:
        """The consent a PAR request's ``openbanking_intent_id`` names when ``client_id`` may have it
        authorised now: its own, AwaitingAuthorisation, before any CompletionDateTime. A payment
        consent is authorised once (no re-authentication: it is consumed by one payment)."""
        consent = await self.get(intent_id, client_id)
        if (
            consent is None
            or consent.status is not Status.AWAITING_AUTHORISATION
            or consent.past_completion(utcnow())
        ):
            return None
        return consent

    async def authorise(
        self, consent_id: str, customer_id: str, debtor_account_id: str, approved_digest: str
    ) -> bool:
        """The customer approved it with SCA, paying from their ledger account ``debtor_account_id``:
        AwaitingAuthorisation -> Authorised, keeping the digest of what they approved (dynamic
        linking; kaimen.apis.payments.intents). True for the one call that made the change."""
        now = utcnow()
        return await self._change(
            consent_id,
            CONSENT_AUTHORISED,
            [
                DomesticPaymentConsent.status == Status.AWAITING_AUTHORISATION.value,
                _before_completion(now),
            ],
            status=Status.AUTHORISED.value,
            status_updated_at=now,
            customer_id=customer_id,
            debtor_account_id=debtor_account_id,
            approved_digest=approved_digest,
        )

    async def reject(self, consent_id: str) -> bool:
        """The customer denied it: AwaitingAuthorisation -> Rejected."""
        return await self._change(
            consent_id,
            CONSENT_REJECTED,
            [DomesticPaymentConsent.status == Status.AWAITING_AUTHORISATION.value],
            status=Status.REJECTED.value,
            status_updated_at=utcnow(),
        )

    async def authorised(self, consent_id: str) -> PaymentConsent | None:
        """The consent an access token carries, when a payment may still be made under it: Authorised
        (read on every call). The caller compares ``client_id`` and ``customer_id`` with the token's."""
        consent = await self._find(consent_id)
        return consent if consent is not None and consent.status is Status.AUTHORISED else None

    # --- storage ------------------------------------------------------------------------------------

    async def _find(self, consent_id: str) -> PaymentConsent | None:
        if not _ID.fullmatch(consent_id):
            return None
        rows = await self.db.direct.rows(_BY_ID, {"id": consent_id})
        return consent_view(_direct_row(rows[0])) if rows else None

    async def _change(
        self, consent_id: str, event: str, conditions: list[ColumnElement[bool]], **values: Any
    ) -> bool:
        return await change_status(
            self.db, self.events, DomesticPaymentConsent, consent_id, event, conditions, **values
        )
