"""Client metadata (RFC 7591 §2) as Kaimen accepts it: validated, normalised, defaults filled in.

One function, :func:`validate_metadata`, serves every way a client comes to exist (dynamic registration,
its RFC 7592 update, and the operator's ``kaimen clients create``), so the rules are written once:

- ``token_endpoint_auth_method`` is ``private_key_jwt`` (FAPI 2.0 §5.3.2.1; the only method Kaimen
  advertises). RFC 7591 §2 defaults an omitted value to client_secret_basic, which Kaimen does not
  support; RFC 7591 §3.2.1 lets the server "substitute them with suitable values", so an omitted value
  becomes ``private_key_jwt`` and is returned as such; any other value is refused.
- ``grant_types`` ⊆ {authorization_code, refresh_token, client_credentials}; ``response_types`` is
  ``["code"]`` exactly when authorization_code is registered (RFC 7591 §2.1 consistency), else empty.
- ``jwks`` or ``jwks_uri``, never both (RFC 7591 §2: "MUST NOT both be present"), public keys only,
  RSA (≥ 2048 bits) or EC P-256, algorithms PS256 / ES256 (RSA-OAEP-256 for an ID-token encryption key).
- ID tokens signed with PS256 or ES256; encrypted, if at all, with RSA-OAEP-256 + A256GCM only.
- UserInfo responses are plain JSON (OIDC Core §5.3.2), never a JWT: ``userinfo_signed_response_alg``
  and ``userinfo_encrypted_response_alg``/``enc`` are refused, not silently dropped, so a client that
  needs a signed or encrypted response learns at registration that Kaimen will not produce one
  (RFC 7591 §2: the server "MAY reject any requested client metadata values by replacing requested
  values with suitable defaults ... or by returning an error response"; discovery advertises no
  ``userinfo_signing_alg_values_supported``).
- Redirect URIs: see :mod:`kaimen.authz.clients_redirects`.

Metadata Kaimen does not understand is dropped (RFC 7591 §2: "The authorization server MUST ignore any
client metadata sent by the client that it does not understand").
"""

from __future__ import annotations

import warnings
from typing import Any

from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, KeySet, RSAKey

from kaimen.authz.clients_redirects import check_redirect_uris, check_web_uri
from kaimen.authz.errors import InvalidClientMetadata
from kaimen.settings import Settings

SIGNING_ALGS = ("PS256", "ES256")
JWE_ALG = "RSA-OAEP-256"
JWE_ENC = "A256GCM"
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHOD = "private_key_jwt"
MIN_RSA_BITS = 2048
MAX_KEYS = 16
_KEY_ALGS = {"RSA": {"PS256", JWE_ALG}, "EC": {"ES256"}}
_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
_TEXT_FIELDS = ("client_name", "scope", "software_id", "software_version")
_URI_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri")
# OIDC Dynamic Client Registration 1.0 §2: any of these asks for the UserInfo response as a JWT.
_USERINFO_JWT_FIELDS = (
    "userinfo_signed_response_alg",
    "userinfo_encrypted_response_alg",
    "userinfo_encrypted_response_enc",
)


def _string_list(metadata: dict[str, Any], name: str, default: list[str]) -> list[str]:
    value = metadata.get(name, default)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidClientMetadata(f"{name} must be an array of strings")
    return list(dict.fromkeys(value))


def _grants(metadata: dict[str, Any]) -> tuple[list[str], list[str]]:
    grants = _string_list(metadata, "grant_types", ["authorization_code"])
    unknown = [g for g in grants if g not in GRANT_TYPES]
    if unknown or not grants:
        raise InvalidClientMetadata(f"grant_types must be a non-empty subset of {', '.join(GRANT_TYPES)}")
    expected = ["code"] if "authorization_code" in grants else []
    responses = _string_list(metadata, "response_types", expected)
    if responses != expected:
        raise InvalidClientMetadata(
            "response_types must be [code] with the authorization_code grant, and empty without it"
        )
    return grants, responses


def _auth_method(metadata: dict[str, Any]) -> dict[str, Any]:
    method = metadata.get("token_endpoint_auth_method", AUTH_METHOD)
    if method != AUTH_METHOD:
        raise InvalidClientMetadata("token_endpoint_auth_method must be private_key_jwt")
    checked: dict[str, Any] = {"token_endpoint_auth_method": AUTH_METHOD}
    alg = metadata.get("token_endpoint_auth_signing_alg")
    if alg is not None:
        if alg not in SIGNING_ALGS:
            raise InvalidClientMetadata("token_endpoint_auth_signing_alg must be PS256 or ES256")
        checked["token_endpoint_auth_signing_alg"] = alg
    return checked


def _id_token(metadata: dict[str, Any]) -> dict[str, Any]:
    # OIDC Dynamic Client Registration §2: id_token_signed_response_alg defaults to RS256, which FAPI 2.0
    # forbids; Kaimen substitutes PS256 (RFC 7591 §3.2.1 allows the server to replace a value).
    signed = metadata.get("id_token_signed_response_alg", "PS256")
    if signed not in SIGNING_ALGS:
        raise InvalidClientMetadata("id_token_signed_response_alg must be PS256 or ES256")
    checked: dict[str, Any] = {"id_token_signed_response_alg": signed}
    alg = metadata.get("id_token_encrypted_response_alg")
    enc = metadata.get("id_token_encrypted_response_enc")
    if alg is None and enc is None:
        return checked
    # OIDC Registration §2: "If id_token_encrypted_response_enc is included,
    # id_token_encrypted_response_alg MUST also be provided." An omitted enc would default to
    # A128CBC-HS256, which Kaimen does not offer, so it must be named.
    if alg != JWE_ALG or enc != JWE_ENC:
        raise InvalidClientMetadata(
            "ID token encryption must be id_token_encrypted_response_alg RSA-OAEP-256 with "
            "id_token_encrypted_response_enc A256GCM"
        )
    return {**checked, "id_token_encrypted_response_alg": alg, "id_token_encrypted_response_enc": enc}


def _no_userinfo_jwt(metadata: dict[str, Any]) -> None:
    asked = [name for name in _USERINFO_JWT_FIELDS if metadata.get(name) is not None]
    if asked:
        raise InvalidClientMetadata(f"{', '.join(asked)}: UserInfo responses are not signed or encrypted")


def _checked_key(data: Any) -> RSAKey | ECKey:
    if not isinstance(data, dict):
        raise InvalidClientMetadata("every JWKS key must be a JSON object")
    if _PRIVATE_MEMBERS & set(data):
        raise InvalidClientMetadata("the JWKS must hold public keys only")
    kty = data.get("kty")
    if not isinstance(kty, str) or kty not in _KEY_ALGS:  # a list or an object is no key type either
        raise InvalidClientMetadata("JWKS keys must be RSA or EC (P-256)")
    if "alg" in data and (not isinstance(data["alg"], str) or data["alg"] not in _KEY_ALGS[kty]):
        raise InvalidClientMetadata(f"JWKS key algorithm {data['alg']} is not allowed")
    if data.get("use", "sig") not in ("sig", "enc"):
        raise InvalidClientMetadata("JWKS key use must be sig or enc")
    try:
        with warnings.catch_warnings():
            # A short RSA key is refused below with a clear error, not a library warning.
            warnings.simplefilter("ignore", SecurityWarning)
            key: RSAKey | ECKey = (RSAKey if kty == "RSA" else ECKey).import_key(data)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidClientMetadata("a JWKS key could not be read") from exc
    if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
        raise InvalidClientMetadata("RSA keys must be at least 2048 bits")
    if isinstance(key, ECKey) and key.curve_name != "P-256":
        raise InvalidClientMetadata("EC keys must be on the P-256 curve")
    return key


def checked_jwks(jwks: Any) -> KeySet:
    """A client's JWKS (inline, or as fetched from its jwks_uri), checked key by key."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise InvalidClientMetadata("jwks must be a JWK Set with at least one key")
    if len(jwks["keys"]) > MAX_KEYS:
        raise InvalidClientMetadata(f"jwks may hold at most {MAX_KEYS} keys")
    keys = [_checked_key(data) for data in jwks["keys"]]
    kids = [key.kid for key in keys if key.kid is not None]
    if len(kids) != len(set(kids)):
        raise InvalidClientMetadata("JWKS key ids (kid) must be unique")
    return KeySet(list(keys))


def _key_location(metadata: dict[str, Any], settings: Settings) -> dict[str, Any]:
    has_jwks, has_uri = "jwks" in metadata, "jwks_uri" in metadata
    if has_jwks and has_uri:
        raise InvalidClientMetadata("jwks and jwks_uri must not both be present")
    if has_jwks:
        key_set = checked_jwks(metadata["jwks"])
        return {"jwks": {"keys": [key.as_dict(private=False) for key in key_set]}}
    if has_uri:
        return {"jwks_uri": check_web_uri(metadata["jwks_uri"], "jwks_uri", settings)}
    raise InvalidClientMetadata("private_key_jwt needs the client's public keys: jwks or jwks_uri")


def _encryption_key_present(checked: dict[str, Any]) -> None:
    if "id_token_encrypted_response_alg" not in checked or "jwks" not in checked:
        return
    for key in checked["jwks"]["keys"]:
        if (
            key["kty"] == "RSA"
            and key.get("use", "enc") == "enc"
            and key.get("alg", "RSA-OAEP-256") == (JWE_ALG)
        ):
            return
    raise InvalidClientMetadata("ID token encryption needs an RSA key for RSA-OAEP-256 in jwks")


def _descriptive(metadata: dict[str, Any], settings: Settings) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        if name in metadata:
            if not isinstance(metadata[name], str) or len(metadata[name]) > 500:
                raise InvalidClientMetadata(f"{name} must be a string of at most 500 characters")
            checked[name] = metadata[name]
    for name in _URI_FIELDS:
        if name in metadata:
            checked[name] = check_web_uri(metadata[name], name, settings)
    if "contacts" in metadata:
        checked["contacts"] = _string_list(metadata, "contacts", [])
    return checked


def validate_metadata(metadata: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The metadata as registered: checked, defaults filled in, unknown members dropped."""
    if not isinstance(metadata, dict):
        raise InvalidClientMetadata("client metadata must be a JSON object")
    _no_userinfo_jwt(metadata)
    grants, responses = _grants(metadata)
    checked: dict[str, Any] = {
        "grant_types": grants,
        "response_types": responses,
        **_auth_method(metadata),
        **_id_token(metadata),
        **_key_location(metadata, settings),
        **_descriptive(metadata, settings),
    }
    # RFC 6749 §3.1.2.2 / FAPI 2.0: a client using the code flow registers its redirect URIs.
    redirect_uris = _string_list(metadata, "redirect_uris", [])
    checked["redirect_uris"] = check_redirect_uris(
        redirect_uris, settings, required="authorization_code" in grants
    )
    _encryption_key_present(checked)
    return checked
