"""Passkeys (WebAuthn, through py_webauthn) as the second factor of login.

- Relying party id: the host of the public base URL ("localhost" in the sandbox); expected origin: the
  public base URL itself. A response signed for another RP id or made on another origin is refused
  (WebAuthn Level 3 §7.2 steps 13 and 15).
- Authentication challenges are single-use and bound to the login session without any extra table:
  the challenge *is* an AES-GCM sealed record of its expiry, sealed with the session id as associated
  data (kaimen.authz.sealing), so only a challenge issued for this session opens; it is then spent in
  the shared one-time store (kaimen.authz.once) so it works once across every worker.
- Checks py_webauthn leaves to the relying party (WebAuthn Level 3 §7.2, and §7.1 for registration):
  a ``userHandle`` in the response must be the customer's own (registration sets it to the customer
  id), and a ceremony run in a frame of another origin (``crossOrigin`` true, or any ``topOrigin`` in
  the client data) is refused, since Kaimen's pages are never framed (``frame-ancestors 'none'``).
- Signature counter (WebAuthn §7.2 step 21): the stored count is raised with a conditional UPDATE that
  succeeds only for a larger count, so a cloned authenticator or a replay cannot pass twice.
- Backup eligibility (the BE flag): kept at registration and fixed for the credential's life, so an
  assertion whose BE differs from the stored one is refused (``refuse_changed_backup_eligibility``).
  The amr Kaimen records depends on it (RFC 8176 "swk" for a backup-eligible, synced passkey, "hwk"
  otherwise), and it is the stored value that decides it. A passkey registered before the flag was
  kept (migration 0020) records the BE of its next assertion, in the same conditional UPDATE.
- Registration (for the customer dashboard and the tests): the caller keeps the challenge it was
  given and hands it back; it too is spent once.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from sqlalchemy import or_, select, update
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from kaimen.authz.once import OnceStore
from kaimen.authz.sealing import Sealer
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.identity_models import Passkey

CHALLENGE_SECONDS = 300
RP_NAME = "Kaimen"


class PasskeyRefused(Exception):
    """The passkey response was not accepted (the message is for logs, never for the page)."""


@dataclass(frozen=True, slots=True)
class RegistrationStart:
    options_json: str  # for navigator.credentials.create()
    challenge: bytes  # the caller keeps it and hands it back to finish_registration


@dataclass(frozen=True, slots=True)
class PasskeyUsed:
    passkey_id: str
    synced: bool  # backup eligible (BE), a multi-device credential: RFC 8176 "swk" rather than "hwk"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def refuse_framed(client_data_json: bytes) -> None:
    """WebAuthn Level 3 §7.1 / §7.2: "If C.topOrigin is present: Verify that the Relying Party expects
    this credential to be used within an iframe that is not same-origin with its ancestors", and
    likewise for C.crossOrigin set to true. Kaimen's pages are never framed (frame-ancestors 'none'),
    so it expects neither: a response made in such a frame is refused. py_webauthn 3.0.1 does not look
    at either member, so the client data is read here."""
    try:
        data = json.loads(client_data_json)
    except ValueError:
        raise PasskeyRefused("malformed client data") from None
    if not isinstance(data, dict):
        raise PasskeyRefused("malformed client data")
    if data.get("crossOrigin", False) is not False or "topOrigin" in data:
        raise PasskeyRefused("ceremony ran in a cross-origin frame")


def refuse_other_user(user_handle: bytes | None, customer_id: str) -> None:
    """WebAuthn Level 3 §7.2 step 6, the user identified before the ceremony (by the login's
    password): "If response.userHandle is present, verify that it equals the user handle of the user
    account". The user handle of a Kaimen passkey is the customer id (``begin_registration``)."""
    if user_handle is not None and user_handle != customer_id.encode():
        raise PasskeyRefused("user handle names another user")


def backup_eligible(device_type: CredentialDeviceType) -> bool:
    """The BE flag of the authenticator data, as py_webauthn reports it (BE set: a multi-device
    credential). py_webauthn has already refused BS without BE (WebAuthn Level 3 §7.1 and §7.2: "If
    the BE bit of the flags in authData is not set, verify that the BS bit is not set")."""
    return device_type == CredentialDeviceType.MULTI_DEVICE


def refuse_changed_backup_eligibility(stored: bool | None, current: bool) -> None:
    """WebAuthn Level 3 §7.2 (verifying an authentication assertion): "If the credential backup state
    is used as part of Relying Party business logic or policy, let currentBe and currentBs be the
    values of the BE and BS bits, respectively, of the flags in authData. Compare currentBe and
    currentBs with credentialRecord.backupEligible and credentialRecord.backupState": "If
    credentialRecord.backupEligible is not set, verify that currentBe is not set", and the sub-step
    before it the same way round for a record whose backupEligible is set. Kaimen's policy uses it: it
    decides between amr "hwk" and "swk". ``stored`` None: registered before the flag was kept, so any
    value is taken (and recorded by the caller)."""
    if stored is not None and stored != current:
        raise PasskeyRefused("backup eligibility differs from the one registered")


class Passkeys:
    def __init__(self, db: Database, sealer: Sealer, once: OnceStore, settings: Settings) -> None:
        self.db = db
        self.sealer = sealer
        self.once = once
        self.origin = settings.public_base_url
        self.rp_id = urlsplit(settings.public_base_url).hostname or "localhost"

    async def _credentials(self, customer_id: str) -> list[Passkey]:
        async with self.db.read() as session:
            rows = await session.execute(select(Passkey).where(Passkey.customer_id == customer_id))
            return list(rows.scalars())

    async def has_passkey(self, customer_id: str) -> bool:
        return bool(await self._credentials(customer_id))

    # --- registration ---

    async def begin_registration(
        self, customer_id: str, username: str, display_name: str
    ) -> RegistrationStart:
        existing = await self._credentials(customer_id)
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=RP_NAME,
            user_name=username,
            user_id=customer_id.encode(),
            user_display_name=display_name,
            exclude_credentials=[PublicKeyCredentialDescriptor(id=row.credential_id) for row in existing],
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
        )
        return RegistrationStart(options_to_json(options), options.challenge)

    async def finish_registration(
        self, customer_id: str, credential: str | dict[str, Any], challenge: bytes
    ) -> str:
        try:
            parsed = parse_registration_credential_json(credential)
        except (WebAuthnException, ValueError, TypeError):
            raise PasskeyRefused("malformed credential") from None
        refuse_framed(parsed.response.client_data_json)
        try:
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
            )
        except WebAuthnException as exc:
            raise PasskeyRefused(str(exc)) from None
        if not await self.once.use("webauthn-register", _b64(challenge), CHALLENGE_SECONDS):
            raise PasskeyRefused("registration challenge already used")
        passkey_id = "pk_" + secrets.token_hex(16)
        async with self.db.write() as session:
            session.add(
                Passkey(
                    id=passkey_id,
                    customer_id=customer_id,
                    credential_id=verified.credential_id,
                    public_key=verified.credential_public_key,
                    sign_count=verified.sign_count,
                    backup_eligible=backup_eligible(verified.credential_device_type),
                )
            )
        return passkey_id

    # --- authentication (second factor) ---

    def _seal_challenge(self, session_id: str) -> bytes:
        expires = int(time.time()) + CHALLENGE_SECONDS
        return self.sealer.seal(struct.pack(">Q", expires), f"webauthn:{session_id}")

    def _open_challenge(self, challenge: bytes, session_id: str) -> None:
        try:
            (expires,) = struct.unpack(">Q", self.sealer.open(challenge, f"webauthn:{session_id}"))
        except (InvalidTag, ValueError, struct.error):
            raise PasskeyRefused("challenge not issued for this login session") from None
        if expires < time.time():
            raise PasskeyRefused("challenge expired")

    async def authentication_options(self, customer_id: str, session_id: str) -> str | None:
        """Options for navigator.credentials.get(), or None when the customer has no passkey."""
        existing = await self._credentials(customer_id)
        if not existing:
            return None
        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=self._seal_challenge(session_id),
            timeout=CHALLENGE_SECONDS * 1000,
            allow_credentials=[PublicKeyCredentialDescriptor(id=row.credential_id) for row in existing],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return options_to_json(options)

    async def authenticate(self, customer_id: str, session_id: str, credential_json: str) -> PasskeyUsed:
        """Check one navigator.credentials.get() response; PasskeyRefused unless every check passes."""
        try:
            credential = parse_authentication_credential_json(credential_json)
            challenge = parse_client_data_json(credential.response.client_data_json).challenge
        except (WebAuthnException, ValueError, TypeError):
            raise PasskeyRefused("malformed credential") from None
        self._open_challenge(challenge, session_id)
        row = next(
            (r for r in await self._credentials(customer_id) if r.credential_id == credential.raw_id), None
        )
        if row is None:
            raise PasskeyRefused("not a passkey of this customer")
        refuse_other_user(credential.response.user_handle, customer_id)
        refuse_framed(credential.response.client_data_json)
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                credential_public_key=row.public_key,
                credential_current_sign_count=row.sign_count,
            )
        except WebAuthnException as exc:
            raise PasskeyRefused(str(exc)) from None
        eligible = backup_eligible(verified.credential_device_type)
        refuse_changed_backup_eligibility(row.backup_eligible, eligible)
        if not await self.once.use("webauthn", _b64(challenge), CHALLENGE_SECONDS):
            raise PasskeyRefused("challenge already used")
        await self._advance(row.id, verified.new_sign_count, eligible)
        return PasskeyUsed(row.id, synced=eligible)

    async def _advance(self, passkey_id: str, new_count: int, eligible: bool) -> None:
        """WebAuthn §7.2 step 21: a non-zero counter must grow; an authenticator that keeps none reports 0.
        The stored BE must still be ``eligible`` (or unknown, and then it is recorded), so two first
        uses racing with different flags cannot both pass."""
        grows = Passkey.sign_count < new_count
        allowed = or_(grows, Passkey.sign_count == 0) if new_count == 0 else grows
        same_be = or_(Passkey.backup_eligible.is_(None), Passkey.backup_eligible == eligible)
        async with self.db.write() as session:
            result = await session.execute(
                update(Passkey)
                .where(Passkey.id == passkey_id, allowed, same_be)
                .values(sign_count=new_count, backup_eligible=eligible)
            )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise PasskeyRefused("signature counter did not increase, or backup eligibility changed")
