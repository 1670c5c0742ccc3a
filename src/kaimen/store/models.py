"""Kaimen's tables. Money is integer minor units; time is UTC; ids are random and unguessable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kaimen.store.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    applications: Mapped[list[Application]] = relationship(back_populates="organisation")


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # pending | approved | suspended | revoked (kaimen.tpp.registry.ReviewStatus)
    status: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="applications")
    contacts: Mapped[list[Contact]] = relationship(back_populates="application", cascade="all, delete-orphan")
    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="application")


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))  # business | technical | security
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))

    application: Mapped[Application] = relationship(back_populates="contacts")


class ApiKey(Base):
    """An API key, stored as the SHA-256 of the whole key; ``prefix`` is the public lookup part."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    application: Mapped[Application] = relationship(back_populates="api_keys")


class Generation(Base):
    """A counter per kind of shared state; bumped in the same transaction as every change to it, so
    every worker can tell its cached copy is stale (kaimen.store.watch)."""

    __tablename__ = "generations"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditRecord(Base):
    """One API call. Append-only; ``digest`` covers the record and the digest of the one before it."""

    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    interaction_id: Mapped[str] = mapped_column(String(64))
    application_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    api: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    latency_us: Mapped[int] = mapped_column(BigInteger)
    client_ip: Mapped[str] = mapped_column(String(64))
    # The consent a token-authenticated call's token carries (the dashboard's "last used").
    consent_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    prev_digest: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_records_interaction_id", "interaction_id"),
        # Only token-authenticated calls carry a consent: the others (every Product API call) stay out
        # of the index, which spares the audit flush an index insert per record (migration 0015).
        Index(
            "ix_audit_records_consent_id",
            "consent_id",
            sqlite_where=text("consent_id IS NOT NULL"),
            postgresql_where=text("consent_id IS NOT NULL"),
        ),
    )


class ProductDocument(Base):
    """The published Open Data document of one Product API (the ``data`` array of its response)."""

    __tablename__ = "product_documents"

    api: Mapped[str] = mapped_column(String(32), primary_key=True)
    body: Mapped[str] = mapped_column(Text)  # JSON text of the ``data`` array
    digest: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# The sandbox ledger keeps its tables in its own package (only ledger/ reads them), and so do the
# account-access consents (kaimen.apis.accounts); they register on this Base here, so Alembic and the
# drift check see every table wherever the models are imported.
from kaimen.apis.accounts import models as _consent_models  # noqa: E402, F401
from kaimen.apis.funds import models as _funds_models  # noqa: E402, F401
from kaimen.apis.payments import models as _payment_models  # noqa: E402, F401
from kaimen.consent import models as _dashboard_models  # noqa: E402, F401
from kaimen.ledger import models as _ledger_models  # noqa: E402, F401
from kaimen.risk import models as _risk_models  # noqa: E402, F401
