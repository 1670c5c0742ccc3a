"""Client metadata and redirect URI rules (issue 3, item 2; RFC 7591 §2, RFC 6749 §3.1.2, FAPI 2.0):
each bad value gets the exact error code and description."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from kaimen.authz.clients_metadata import validate_metadata
from kaimen.authz.errors import InvalidClientMetadata, InvalidRedirectUri, OAuthError
from kaimen.settings import Settings
from tests.authz_clients_support import client_metadata, ec_key, public_jwks, rsa_key


@pytest.fixture
def embedded(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def production(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        mode="production",
        database_url="postgresql://kaimen@db.example/kaimen",
        redis_url="redis://cache.example:6379/0",
        secret_key=secrets.token_urlsafe(32),
        directory_jwks=json.dumps(public_jwks(rsa_key("directory"))),
        directory_issuer="OpenBanking Ltd",
        public_base_url="https://bank.example",
        jws_tan="openbanking.org.uk",
        jws_iss="0015800001041RHAAY",
    )


def refused(metadata: dict[str, Any], settings: Settings, error: type[OAuthError], description: str) -> None:
    with pytest.raises(error) as caught:
        validate_metadata(metadata, settings)
    assert (caught.value.status, caught.value.description) == (400, description)
    assert caught.value.error == error.error


def test_defaults_are_filled_in(embedded: Settings) -> None:
    checked = validate_metadata(
        {"redirect_uris": ["https://tpp.example/cb"], "jwks": public_jwks(rsa_key())}, embedded
    )
    assert checked == {
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "private_key_jwt",
        "id_token_signed_response_alg": "PS256",
        "jwks": public_jwks(rsa_key()),
        "redirect_uris": ["https://tpp.example/cb"],
    }


def test_unknown_metadata_is_dropped(embedded: Settings) -> None:
    # RFC 7591 §2: "The authorization server MUST ignore any client metadata ... it does not understand".
    checked = validate_metadata(client_metadata(frobnicate=True, client_name="Acme"), embedded)
    assert "frobnicate" not in checked and checked["client_name"] == "Acme"


def test_client_credentials_only_needs_no_redirect_uri(embedded: Settings) -> None:
    checked = validate_metadata(
        client_metadata(grant_types=["client_credentials"], redirect_uris=[]), embedded
    )
    assert checked["response_types"] == [] and checked["redirect_uris"] == []


@pytest.mark.parametrize("method", ["client_secret_basic", "none", "tls_client_auth", "client_secret_jwt"])
def test_auth_method_other_than_private_key_jwt_is_refused(embedded: Settings, method: str) -> None:
    refused(
        client_metadata(token_endpoint_auth_method=method),
        embedded,
        InvalidClientMetadata,
        "token_endpoint_auth_method must be private_key_jwt",
    )


@pytest.mark.parametrize("alg", ["RS256", "HS256", "none"])
def test_auth_signing_alg_other_than_ps256_es256_is_refused(embedded: Settings, alg: str) -> None:
    refused(
        client_metadata(token_endpoint_auth_signing_alg=alg),
        embedded,
        InvalidClientMetadata,
        "token_endpoint_auth_signing_alg must be PS256 or ES256",
    )


@pytest.mark.parametrize("grants", [["password"], ["implicit"], ["authorization_code", "urn:x"], []])
def test_grant_types_outside_the_supported_set_are_refused(embedded: Settings, grants: list[str]) -> None:
    refused(
        client_metadata(grant_types=grants),
        embedded,
        InvalidClientMetadata,
        "grant_types must be a non-empty subset of authorization_code, refresh_token, client_credentials",
    )


@pytest.mark.parametrize("responses", [["token"], ["code", "id_token"], ["code id_token"], []])
def test_response_types_other_than_code_are_refused(embedded: Settings, responses: list[str]) -> None:
    refused(
        client_metadata(response_types=responses),
        embedded,
        InvalidClientMetadata,
        "response_types must be [code] with the authorization_code grant, and empty without it",
    )


def test_jwks_and_jwks_uri_together_are_refused(embedded: Settings) -> None:
    refused(
        client_metadata(jwks_uri="https://tpp.example/jwks"),
        embedded,
        InvalidClientMetadata,
        "jwks and jwks_uri must not both be present",
    )


def test_no_keys_at_all_are_refused(embedded: Settings) -> None:
    metadata = client_metadata()
    del metadata["jwks"]
    refused(
        metadata,
        embedded,
        InvalidClientMetadata,
        "private_key_jwt needs the client's public keys: jwks or jwks_uri",
    )


def test_private_key_in_jwks_is_refused(embedded: Settings) -> None:
    refused(
        client_metadata(jwks={"keys": [rsa_key().as_dict(private=True)]}),
        embedded,
        InvalidClientMetadata,
        "the JWKS must hold public keys only",
    )


def test_symmetric_key_in_jwks_is_refused(embedded: Settings) -> None:
    refused(
        client_metadata(jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        embedded,
        InvalidClientMetadata,
        "the JWKS must hold public keys only",
    )


def test_rsa_key_under_2048_bits_is_refused(embedded: Settings) -> None:
    import warnings

    from joserfc.errors import SecurityWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        short = RSAKey.generate_key(1024, parameters={"kid": "short"}, private=True)
    refused(
        client_metadata(jwks={"keys": [short.as_dict(private=False)]}),
        embedded,
        InvalidClientMetadata,
        "RSA keys must be at least 2048 bits",
    )


def test_key_with_a_disallowed_alg_is_refused(embedded: Settings) -> None:
    key = {**rsa_key().as_dict(private=False), "alg": "RS256"}
    refused(
        client_metadata(jwks={"keys": [key]}),
        embedded,
        InvalidClientMetadata,
        "JWKS key algorithm RS256 is not allowed",
    )


def test_ec_key_off_p256_is_refused(embedded: Settings) -> None:
    from joserfc.jwk import ECKey

    p384 = ECKey.generate_key("P-384", parameters={"kid": "p384"}, private=True)
    refused(
        client_metadata(jwks={"keys": [p384.as_dict(private=False)]}),
        embedded,
        InvalidClientMetadata,
        "EC keys must be on the P-256 curve",
    )


def test_duplicate_kids_are_refused(embedded: Settings) -> None:
    refused(
        client_metadata(jwks=public_jwks(rsa_key(), rsa_key())),
        embedded,
        InvalidClientMetadata,
        "JWKS key ids (kid) must be unique",
    )


@pytest.mark.parametrize("alg", ["RS256", "none", "HS256"])
def test_id_token_signed_with_other_than_ps256_es256_is_refused(embedded: Settings, alg: str) -> None:
    refused(
        client_metadata(id_token_signed_response_alg=alg),
        embedded,
        InvalidClientMetadata,
        "id_token_signed_response_alg must be PS256 or ES256",
    )


@pytest.mark.parametrize(
    "requested,named",
    [
        ({"userinfo_signed_response_alg": "PS256"}, "userinfo_signed_response_alg"),
        ({"userinfo_signed_response_alg": "ES256"}, "userinfo_signed_response_alg"),
        (
            {"userinfo_encrypted_response_alg": "RSA-OAEP-256", "userinfo_encrypted_response_enc": "A256GCM"},
            "userinfo_encrypted_response_alg, userinfo_encrypted_response_enc",
        ),
    ],
)
def test_a_signed_or_encrypted_userinfo_response_is_refused(
    embedded: Settings, requested: dict[str, str], named: str
) -> None:
    # UserInfo answers plain JSON only (kaimen.authz.userinfo), and discovery advertises no
    # userinfo_signing_alg_values_supported: RFC 7591 §2 lets the server reject what it does not support
    # "by returning an error response", which is clearer to the client than dropping the value.
    refused(
        client_metadata(**requested),
        embedded,
        InvalidClientMetadata,
        f"{named}: UserInfo responses are not signed or encrypted",
    )


@pytest.mark.parametrize(
    "alg,enc",
    [("RSA1_5", "A256GCM"), ("RSA-OAEP-256", "A128CBC-HS256"), ("RSA-OAEP-256", None), (None, "A256GCM")],
)
def test_id_token_encryption_other_than_rsa_oaep_256_a256gcm_is_refused(
    embedded: Settings, alg: str | None, enc: str | None
) -> None:
    extra = {
        k: v
        for k, v in (("id_token_encrypted_response_alg", alg), ("id_token_encrypted_response_enc", enc))
        if v
    }
    refused(
        client_metadata(**extra),
        embedded,
        InvalidClientMetadata,
        "ID token encryption must be id_token_encrypted_response_alg RSA-OAEP-256 with "
        "id_token_encrypted_response_enc A256GCM",
    )


def test_id_token_encryption_is_registered_with_an_encryption_key(embedded: Settings) -> None:
    enc_key = RSAKey.generate_key(2048, parameters={"kid": "enc-1", "use": "enc", "alg": "RSA-OAEP-256"})
    metadata = client_metadata(
        jwks=public_jwks(rsa_key(), ec_key(), enc_key),
        id_token_encrypted_response_alg="RSA-OAEP-256",
        id_token_encrypted_response_enc="A256GCM",
        id_token_signed_response_alg="ES256",
    )
    checked = validate_metadata(metadata, embedded)
    assert checked["id_token_encrypted_response_enc"] == "A256GCM"
    assert checked["id_token_signed_response_alg"] == "ES256"


def test_id_token_encryption_without_an_encryption_key_is_refused(embedded: Settings) -> None:
    metadata = client_metadata(
        jwks=public_jwks(ec_key()),
        id_token_encrypted_response_alg="RSA-OAEP-256",
        id_token_encrypted_response_enc="A256GCM",
    )
    refused(
        metadata,
        embedded,
        InvalidClientMetadata,
        "ID token encryption needs an RSA key for RSA-OAEP-256 in jwks",
    )


# Redirect URIs: RFC 6749 §3.1.2, FAPI 2.0 §5.2.1 (https), DESIGN.md sandbox loopback deviation.


@pytest.mark.parametrize(
    "uri",
    [
        "https://tpp.example/cb",
        "https://tpp.example:8443/cb?x=1",
        "http://127.0.0.1:9000/cb",
        "http://localhost/cb",
        "http://[::1]:8080/cb",
    ],
)
def test_https_and_sandbox_loopback_redirect_uris_are_accepted(embedded: Settings, uri: str) -> None:
    assert validate_metadata(client_metadata(redirect_uris=[uri]), embedded)["redirect_uris"] == [uri]


@pytest.mark.parametrize(
    "uri,reason",
    [
        ("https://tpp.example/cb#frag", "must not include a fragment (RFC 6749 section 3.1.2)"),
        ("https://tpp.example/cb#", "must not include a fragment (RFC 6749 section 3.1.2)"),
        ("/callback", "must be an absolute URI with a host"),
        ("tpp.example/cb", "must be an absolute URI with a host"),
        ("http://tpp.example/cb", "must use https"),
        ("http://10.0.0.1/cb", "must use https"),
        ("com.tpp.app:/cb", "must be an absolute URI with a host"),
        ("https://user:pw@tpp.example/cb", "must not carry user information"),
        ("https://tpp.example/c b", "must be ASCII without spaces"),
        ("", "must be a non-empty string of at most 2000 characters"),
    ],
)
def test_bad_redirect_uris_are_refused(embedded: Settings, uri: str, reason: str) -> None:
    refused(client_metadata(redirect_uris=[uri]), embedded, InvalidRedirectUri, f"redirect_uri {reason}")


def test_loopback_http_is_refused_in_production(production: Settings) -> None:
    refused(
        client_metadata(redirect_uris=["http://127.0.0.1:9000/cb"]),
        production,
        InvalidRedirectUri,
        "redirect_uri must use https: plain http on loopback is allowed in the sandbox (embedded mode) only",
    )


def test_code_flow_without_redirect_uris_is_refused(embedded: Settings) -> None:
    refused(
        client_metadata(redirect_uris=[]),
        embedded,
        InvalidRedirectUri,
        "redirect_uris are required for the authorization_code grant",
    )


def test_jwks_uri_follows_the_same_uri_rules(embedded: Settings) -> None:
    metadata = client_metadata(jwks_uri="http://tpp.example/jwks")
    del metadata["jwks"]
    refused(metadata, embedded, InvalidClientMetadata, "jwks_uri must use https")
