"""What the three kinds of consent (account access, funds confirmation, domestic payment) share about
changing a consent's status, or deleting it for its TPP: one conditional statement, so that of two
concurrent changes only one takes effect on SQLite and PostgreSQL alike, and the named event
(``consent.*``, payload ``ConsentChanged``) emitted after the commit, for the audit and for token
revocation (kaimen.authz.server)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, delete, or_, select, update

from kaimen.events import CONSENT_DELETED
from kaimen.store.db import Database

# What a ConsentId Kaimen issued looks like (within Data.ConsentId's maxLength 128): anything else (a
# path parameter with a NUL or non-ASCII character, say) is unknown without asking the database.
CONSENT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}", re.ASCII)


# The statuses of the consent Status enums (OBReadConsentResponse1, OBFundsConfirmationConsentResponse1)
# the authorization flow deals with.
AWAITING_AUTHORISATION = "AwaitingAuthorisation"
AUTHORISED = "Authorised"


class Events(Protocol):
    def emit(self, name: str, payload: Any) -> None: ...


class LongLivedConsent(Protocol):
    """An account-access or funds-confirmation consent, as the re-authentication rules see it."""

    @property
    def client_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    def expired(self, now: datetime) -> bool: ...


def may_be_authorised(consent: LongLivedConsent | None, client_id: str, now: datetime) -> bool:
    """Whether ``client_id`` may send a customer to authorise ``consent`` now: its own, unexpired, and
    AwaitingAuthorisation, or Authorised for a re-authentication. Both long-lived consents allow it in
    the same words: "A[n account-access | funds-confirmation]-consent can be re-authenticated if: the
    ... resource has a status of Authorised and The ExpirationDateTime, if specified, has not elapsed"
    (Account and Transaction API Profile and Confirmation of Funds API Profile, "Consent
    Re-authentication")."""
    return (
        consent is not None
        and consent.client_id == client_id
        and not consent.expired(now)
        and consent.status in (AWAITING_AUTHORISATION, AUTHORISED)
    )


def unexpired(model: Any, now: datetime) -> ColumnElement[bool]:
    """The consent of table ``model`` has no ExpirationDateTime, or it has not elapsed at ``now``."""
    clause: ColumnElement[bool] = or_(model.expires_at.is_(None), model.expires_at > now)
    return clause


def reauthentication(model: Any, customer_id: str, now: datetime) -> list[ColumnElement[bool]]:
    """The conditions of a re-authentication's UPDATE ("Consent Re-authentication", as above): the
    consent of table ``model`` is Authorised and unexpired at the moment of the change, and by the
    customer re-authenticating it, so no other customer can take over a consent by authorising it
    again."""
    return [model.status == AUTHORISED, model.customer_id == customer_id, unexpired(model, now)]


@dataclass(frozen=True, slots=True)
class ConsentChanged:
    """Payload of consent.authorised / rejected / revoked / deleted / consumed (audit; token
    revocation)."""

    consent_id: str
    client_id: str
    customer_id: str | None
    status: str  # the status after the change; the status it had when deleted, for consent.deleted


async def change_status(
    db: Database,
    events: Events,
    model: Any,
    consent_id: str,
    event: str,
    conditions: list[ColumnElement[bool]],
    **values: Any,
) -> bool:
    """UPDATE the consent ``consent_id`` of table ``model`` to ``values`` when ``conditions`` hold; True
    (and ``event`` emitted) for the one call that changed it."""
    if not CONSENT_ID.fullmatch(consent_id):
        return False
    async with db.write() as session:
        result = await session.execute(
            update(model)
            .where(model.id == consent_id, *conditions)
            .values(**values)
            .returning(model.client_id, model.customer_id, model.status)
        )
        changed = result.first()
    if changed is None:
        return False
    events.emit(event, ConsentChanged(consent_id, changed[0], changed[1], changed[2]))
    return True


async def held_by_another(db: Database, model: Any, consent_id: str, client_id: str) -> bool:
    """Whether the consent ``consent_id`` of table ``model`` exists and is another client's than
    ``client_id``. Read/Write Data API Profile, "403 (Forbidden)": "When a TPP tries to access a resource
    that it does not have permission to access, the ASPSP must return a 403 (Forbidden)", e.g. "The TPP
    attempted to access a resource with an Id that it does not have access to". Only that one bit is
    read, nothing of the consent itself, so nothing else of it can reach the other TPP."""
    return bool(CONSENT_ID.fullmatch(consent_id)) and await another_clients(db, model, consent_id, client_id)


async def another_clients(db: Database, model: Any, row_id: str, client_id: str) -> bool:
    """Whether the row ``row_id`` of table ``model`` (a consent, a payment) exists and was made by
    another client than ``client_id``: one bit, nothing of the row (:func:`held_by_another`)."""
    async with db.read() as session:
        query = select(model.id).where(model.id == row_id, model.client_id != client_id)
        return (await session.execute(query)).first() is not None


async def delete_consent(db: Database, events: Events, model: Any, consent_id: str, client_id: str) -> bool:
    """The TPP's DELETE of its consent ``consent_id`` of table ``model``, whatever its status; True (and
    consent.deleted emitted, with the status it had) when there was one of this TPP's."""
    if not CONSENT_ID.fullmatch(consent_id):
        return False
    async with db.write() as session:
        result = await session.execute(
            delete(model)
            .where(model.id == consent_id, model.client_id == client_id)
            .returning(model.client_id, model.customer_id, model.status)
        )
        gone = result.first()
    if gone is None:
        return False
    events.emit(CONSENT_DELETED, ConsentChanged(consent_id, gone[0], gone[1], gone[2]))
    return True
