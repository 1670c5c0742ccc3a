"""The account-access-consent table (UK OB v3.1.11, Account Access Consents, OBReadConsentResponse1),
registered on Kaimen's declarative ``Base`` (kaimen.store.models imports this module).

The three date-times are kept twice: as the TPP sent them (``*_text``, echoed unchanged: Account and
Transaction API Profile, "Expiration Date Time": the ASPSP "must not modify the ExpirationDateTime ...
and must leave it as provided by the TPP") and as UTC instants for the checks (``expires_at`` is
compared in the conditional UPDATEs of the lifecycle).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from kaimen.store.models import Base
from kaimen.store.types import UTCDateTime


class AccountAccessConsent(Base):
    __tablename__ = "account_access_consents"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # Data.ConsentId, maxLength 128
    client_id: Mapped[str] = mapped_column(String(64))  # the TPP that created it
    # AwaitingAuthorisation | Authorised | Rejected | Revoked (kaimen.apis.accounts.consents.Status)
    status: Mapped[str] = mapped_column(String(32))
    permissions: Mapped[list[str]] = mapped_column(JSON)
    expiration_text: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    transaction_from_text: Mapped[str | None] = mapped_column(String(64), nullable=True)
    transaction_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    transaction_to_text: Mapped[str | None] = mapped_column(String(64), nullable=True)
    transaction_to: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when the customer authorises it: who, and the accounts they chose.
    customer_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    account_ids: Mapped[list[str]] = mapped_column(JSON)
