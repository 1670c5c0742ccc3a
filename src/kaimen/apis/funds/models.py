"""The Confirmation of Funds tables (UK OB v3.1.11 Confirmation of Funds API), registered on Kaimen's
declarative ``Base`` (kaimen.store.models imports this module).

``funds_confirmation_consents``: OBFundsConfirmationConsentResponse1. ExpirationDateTime is kept as the
TPP sent it (echoed unchanged) and as a UTC instant (compared in the lifecycle's conditional UPDATEs);
the DebtorAccount as sent; once the customer authorises it, who did and which of their ledger accounts
the DebtorAccount named.

``funds_confirmations``: every OBFundsConfirmationResponse1 answered, kept for audit. No foreign key to
the consent: a consent the TPP deletes is gone, the record of what was asked under it is not. Money is
integer minor units, with the Amount also kept as sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from kaimen.store.models import Base
from kaimen.store.types import UTCDateTime


class FundsConfirmationConsent(Base):
    __tablename__ = "funds_confirmation_consents"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # Data.ConsentId, maxLength 128
    client_id: Mapped[str] = mapped_column(String(64))  # the TPP that created it
    # AwaitingAuthorisation | Authorised | Rejected | Revoked (kaimen.apis.funds.consents.Status)
    status: Mapped[str] = mapped_column(String(32))
    expiration_text: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Data.DebtorAccount, maxLengths as in the spec file (SchemeName has none: kept to 64).
    debtor_scheme_name: Mapped[str] = mapped_column(String(64))
    debtor_identification: Mapped[str] = mapped_column(String(256))
    debtor_name: Mapped[str | None] = mapped_column(String(350), nullable=True)
    debtor_secondary_identification: Mapped[str | None] = mapped_column(String(34), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when the customer authorises it: who, and the ledger account the DebtorAccount resolved to.
    customer_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    account_id: Mapped[str | None] = mapped_column(String(40), nullable=True)


class FundsConfirmation(Base):
    __tablename__ = "funds_confirmations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # Data.FundsConfirmationId, maxLength 40
    consent_id: Mapped[str] = mapped_column(String(128), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(35))  # Data.Reference, maxLength 35
    amount_text: Mapped[str] = mapped_column(String(32))  # InstructedAmount.Amount as sent
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    funds_available: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
