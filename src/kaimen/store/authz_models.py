"""Tables of the authorization server (issue 3). One-time records that guard access (authorization
codes, consumed request_uris) live here, written in the same transaction as their effect."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from kaimen.store.models import Base
from kaimen.store.types import UTCDateTime, utcnow


class SigningKey(Base):
    """A key the server signs with (ID tokens, JWT responses). The private part is sealed at rest."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))  # PS256 | ES256
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Published from created_at; used for signing from activates_at; dropped from the JWKS after
    # retires_at (when everything it signed has expired).
    activates_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OAuthClient(Base):
    """An OAuth client: the OAuth face of a TPP application (one client per application)."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), unique=True)
    # Registered metadata (RFC 7591 §2): redirect_uris, jwks | jwks_uri, token_endpoint_auth_method,
    # token_endpoint_auth_signing_alg, id_token_signed_response_alg, id_token_encrypted_response_alg/enc,
    # scope, software_id, software_statement claims, ...
    client_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    registration_token_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class UsedOnce(Base):
    """A value that may be used once (client assertion jti, DPoP jti) when no Redis is configured:
    the primary key makes the second insert fail atomically, in every worker."""

    __tablename__ = "used_once"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuthorizationRequest(Base):
    """A pushed authorization request (RFC 9126). ``id`` is the secret part of the request_uri."""

    __tablename__ = "authorization_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuthorizationCode(Base):
    """An authorization code, stored as a digest; consumed once (FAPI 2.0 §5.3.2.1)."""

    __tablename__ = "authorization_codes"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(40))
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    scope: Mapped[str] = mapped_column(Text)
    # nonce, acr, amr, auth_time, claims, consent id: what the token endpoint needs for the ID token
    grant: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set when the code is presented again after its redemption (RFC 6749 §4.1.2).
    reused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Token(Base):
    """An access or refresh token, stored as a digest. Access tokens are DPoP-bound (cnf.jkt)."""

    __tablename__ = "tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # access | refresh
    grant_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    scope: Mapped[str] = mapped_column(Text)
    jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_tokens_grant_id", "grant_id"),
        # Revoked together when their consent ends. A client_credentials token has no consent: it
        # stays out of the index, sparing its issue an index insert (migration 0019).
        Index(
            "ix_tokens_consent_id",
            "consent_id",
            sqlite_where=text("consent_id IS NOT NULL"),
            postgresql_where=text("consent_id IS NOT NULL"),
        ),
    )
