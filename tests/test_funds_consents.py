"""POST/GET/DELETE /open-banking/v3.1/cbpii/funds-confirmation-consents (UK OB v3.1.11 Confirmation of
Funds API, spec file confirmation-funds-openapi.json): through the whole app and gateway, on SQLite and
PostgreSQL; every answer checked against the spec file's schemas."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kaimen.demo.credentials import build
from kaimen.settings import Settings, SettingsError
from tests.account_consents_support import CONSENTS as ACCOUNT_CONSENTS
from tests.account_consents_support import consent_body as account_consent_body
from tests.account_consents_support import new_tpp
from tests.funds_support import (
    CONSENT_MISMATCH,
    CONSENTS,
    FIELD_INVALID,
    FIELD_MISSING,
    FIELD_UNEXPECTED,
    INVALID_DATE,
    INVALID_FORMAT,
    NOT_FOUND,
    PACKAGED_FUNDS_SPECS,
    SPEC_NAME,
    assert_consent,
    assert_ob_error,
    consent_body,
    new_funds_tpp,
)
from tests.support import SHARED_OB_SPECS

DEBTOR = "Data.DebtorAccount"
SCHEME = "UK.OBIE.SortCodeAccountNumber"


def _in(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


async def test_create_answers_201_awaiting_authorisation_echoing_what_was_sent(
    server: tuple[Any, httpx.AsyncClient],
) -> None:
    """OBFundsConfirmationConsentResponse1: ConsentId, Status AwaitingAuthorisation, CreationDateTime,
    StatusUpdateDateTime, ExpirationDateTime and DebtorAccount as sent, Links.Self, Meta."""
    app, http = server
    alice = await new_funds_tpp(app, http, "alice")
    body = consent_body(ExpirationDateTime="2099-05-02T00:00:00+08:00")
    body["Data"]["DebtorAccount"]["SecondaryIdentification"] = "ROLL-0001"
    response = await alice.call("POST", CONSENTS, json=body)
    created = assert_consent(response, 201)
    data = created["Data"]
    assert data["ConsentId"].startswith("fcc-") and len(data["ConsentId"]) >= 36
    assert data["Status"] == "AwaitingAuthorisation"
    assert data["CreationDateTime"] == data["StatusUpdateDateTime"]
    assert data["ExpirationDateTime"] == "2099-05-02T00:00:00+08:00"
    assert data["DebtorAccount"] == {
        "SchemeName": SCHEME,
        "Identification": "40127612345678",
        "Name": "Alice Chen",
        "SecondaryIdentification": "ROLL-0001",
    }
    assert created["Links"] == {"Self": f"http://localhost:8000{CONSENTS}/{data['ConsentId']}"}
    assert created["Meta"] == {"TotalPages": 1}
    assert response.headers["x-fapi-interaction-id"] == "0f8d5c2a-9a1b-4c3d-8e7f-6a5b4c3d2e1f"


async def test_open_ended_consent_and_unguessable_ids(server: tuple[Any, httpx.AsyncClient]) -> None:
    """ExpirationDateTime: "If this is not populated, the authorisation will be open ended"."""
    app, http = server
    alice = await new_funds_tpp(app, http, "alice")
    minimal = {"Data": {"DebtorAccount": {"SchemeName": SCHEME, "Identification": "40127612345678"}}}
    first = assert_consent(await alice.call("POST", CONSENTS, json=minimal), 201)["Data"]
    second = assert_consent(await alice.call("POST", CONSENTS, json=minimal), 201)["Data"]
    assert "ExpirationDateTime" not in first
    assert first["DebtorAccount"] == minimal["Data"]["DebtorAccount"]
    assert first["ConsentId"] != second["ConsentId"]


@pytest.mark.parametrize("scheme", ["UK.OBIE.BBAN", "UK.OBIE.IBAN", "UK.OBIE.PAN", "UK.OBIE.Paym"])
async def test_every_scheme_of_the_namespaced_enum_is_accepted(
    server: tuple[Any, httpx.AsyncClient], scheme: str
) -> None:
    app, http = server
    alice = await new_funds_tpp(app, http, "alice")
    body = {"Data": {"DebtorAccount": {"SchemeName": scheme, "Identification": "GB29NWBK60161331926819"}}}
    assert (
        assert_consent(await alice.call("POST", CONSENTS, json=body), 201)["Data"]["DebtorAccount"]
        == (body["Data"]["DebtorAccount"])
    )


def _debtor(**members: Any) -> dict[str, Any]:
    debtor = {"SchemeName": SCHEME, "Identification": "40127612345678"}
    debtor.update(members)
    return {"Data": {"DebtorAccount": {k: v for k, v in debtor.items() if v is not None}}}


BAD_BODIES: list[tuple[str, Any, str, str | None]] = [
    ("a JSON array", [consent_body()], INVALID_FORMAT, None),
    ("missing Data", {}, FIELD_MISSING, "Data"),
    ("Data not an object", {"Data": []}, FIELD_INVALID, "Data"),
    ("unknown top-level member", {**consent_body(), "Risk": {}}, FIELD_UNEXPECTED, "Risk"),
    ("misspelt Data member", consent_body(ExpirationDatetime=_in(30)), FIELD_UNEXPECTED,
     "Data.ExpirationDatetime"),
    ("missing DebtorAccount", {"Data": {}}, FIELD_MISSING, DEBTOR),
    ("DebtorAccount not an object", {"Data": {"DebtorAccount": "40127612345678"}}, FIELD_INVALID, DEBTOR),
    ("unknown DebtorAccount member", _debtor(Iban="x"), FIELD_UNEXPECTED, f"{DEBTOR}.Iban"),
    ("missing SchemeName", _debtor(SchemeName=None), FIELD_MISSING, f"{DEBTOR}.SchemeName"),
    ("missing Identification", _debtor(Identification=None), FIELD_MISSING, f"{DEBTOR}.Identification"),
    ("SchemeName not a string", _debtor(SchemeName=1), FIELD_INVALID, f"{DEBTOR}.SchemeName"),
    ("unknown scheme", _debtor(SchemeName="UK.OBIE.Other"), "UK.OBIE.Unsupported.Scheme",
     f"{DEBTOR}.SchemeName"),
    ("sort code + number not 14 digits", _debtor(Identification="4012761234567"),
     "UK.OBIE.Unsupported.AccountIdentifier", f"{DEBTOR}.Identification"),
    ("sort code + number not digits", _debtor(Identification="40-12-76-123456"),
     "UK.OBIE.Unsupported.AccountIdentifier", f"{DEBTOR}.Identification"),
    ("empty Identification", _debtor(Identification=""), FIELD_INVALID, f"{DEBTOR}.Identification"),
    ("Identification too long", _debtor(SchemeName="UK.OBIE.IBAN", Identification="X" * 257), FIELD_INVALID,
     f"{DEBTOR}.Identification"),
    ("empty Name", _debtor(Name=""), FIELD_INVALID, f"{DEBTOR}.Name"),
    ("Name too long", _debtor(Name="N" * 351), FIELD_INVALID, f"{DEBTOR}.Name"),
    ("SecondaryIdentification too long", _debtor(SecondaryIdentification="S" * 35), FIELD_INVALID,
     f"{DEBTOR}.SecondaryIdentification"),
    ("expiry in the past", consent_body(ExpirationDateTime="2020-01-01T00:00:00+00:00"), INVALID_DATE,
     "Data.ExpirationDateTime"),
    ("expiry without a zone", consent_body(ExpirationDateTime="2099-01-01T00:00:00"), INVALID_DATE,
     "Data.ExpirationDateTime"),
    ("expiry a date only", consent_body(ExpirationDateTime="2099-01-01"), INVALID_DATE,
     "Data.ExpirationDateTime"),
    ("expiry not a string", consent_body(ExpirationDateTime=4102444800), INVALID_DATE,
     "Data.ExpirationDateTime"),
    ("impossible date", consent_body(ExpirationDateTime="2099-02-30T00:00:00Z"), INVALID_DATE,
     "Data.ExpirationDateTime"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "code", "path"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_consent_request_is_refused_with_400(
    server: tuple[Any, httpx.AsyncClient], case: str, body: Any, code: str, path: str | None
) -> None:
    """OBFundsConfirmationConsent1 (required Data, DebtorAccount, SchemeName, Identification;
    additionalProperties false; min/maxLengths; SchemeName's x-namespaced-enum; date-time)."""
    app, http = server
    alice = await new_funds_tpp(app, http, "alice")
    assert_ob_error(await alice.call("POST", CONSENTS, json=body), 400, code, path)


async def test_malformed_json_and_wrong_media_type(server: tuple[Any, httpx.AsyncClient]) -> None:
    """The spec file's request media type is application/json; anything else is 415."""
    app, http = server
    alice = await new_funds_tpp(app, http, "alice")
    malformed = await alice.call("POST", CONSENTS, content=b'{"Data": {')
    assert_ob_error(malformed, 400, INVALID_FORMAT)
    text = await alice.call("POST", CONSENTS, content=b"{}", content_type="text/plain")
    assert_ob_error(text, 415, "UK.OBIE.Header.Invalid", "Content-Type")
    quoted_latin1 = await alice.call(
        "POST", CONSENTS, content=b"{}", content_type='application/json; charset="latin-1"'
    )
    assert_ob_error(quoted_latin1, 415, "UK.OBIE.Header.Invalid", "Content-Type")
    # R/W Data API Profile, "Request Headers", Content-Type: "The TPP may provide additional information
    # (e.g. a 'q' value and charset)" (the same json_body step as the Account and Payment APIs).
    with_q = await alice.call(
        "POST", CONSENTS, json=consent_body(), content_type='application/json; charset="utf-8"; q=1'
    )
    assert assert_consent(with_q, 201)["Data"]["Status"] == "AwaitingAuthorisation"


async def test_no_token_is_refused_401(server: tuple[Any, httpx.AsyncClient]) -> None:
    _app, http = server
    response = await http.post(CONSENTS, json=consent_body())
    assert_ob_error(response, 401, "UK.OBIE.Header.Missing")
    assert response.headers["www-authenticate"].startswith("DPoP algs=")


async def test_an_accounts_token_is_refused_exactly_as_the_account_api_refuses_a_wrong_scope(
    server: tuple[Any, httpx.AsyncClient],
) -> None:
    """Security TPPOAuth2Security ["fundsconfirmations"]: a token of scope accounts gets the Account
    API's wrong-scope answer (403 UK.OBIE.Resource.ConsentMismatch, insufficient_scope) word for word,
    but for the scope it names."""
    app, http = server
    reader = await new_tpp(app, http, "reader", scope="accounts")
    funder = await new_funds_tpp(app, http, "funder")
    on_funds = await reader.call("POST", CONSENTS, json=consent_body())
    on_accounts = await funder.call("POST", ACCOUNT_CONSENTS, json=account_consent_body())
    funds_body = assert_ob_error(on_funds, 403, CONSENT_MISMATCH)
    accounts_body = assert_ob_error(on_accounts, 403, CONSENT_MISMATCH)
    assert funds_body["Errors"] == accounts_body["Errors"]
    assert on_funds.headers["www-authenticate"] == on_accounts.headers["www-authenticate"].replace(
        'scope="accounts"', 'scope="fundsconfirmations"'
    )
    assert 'error="insufficient_scope"' in on_funds.headers["www-authenticate"]


async def test_a_customer_token_is_refused_on_every_consent_endpoint(
    server: tuple[Any, httpx.AsyncClient],
) -> None:
    """Security TPPOAuth2Security: the clientCredentials flow, the TPP's own token, not the PSU's."""
    app, http = server
    alice = await new_funds_tpp(app, http, "alice")
    created = assert_consent(await alice.call("POST", CONSENTS, json=consent_body()), 201)
    consent_id = created["Data"]["ConsentId"]
    customer = await new_tpp(app, http, "bob", scope="openid fundsconfirmations", customer="cust-1")
    for method, path in (("POST", CONSENTS), ("GET", f"{CONSENTS}/{consent_id}"),
                         ("DELETE", f"{CONSENTS}/{consent_id}")):  # fmt: skip
        response = await customer.call(method, path, json=consent_body() if method == "POST" else None)
        assert_ob_error(response, 403, CONSENT_MISMATCH, "Authorization")


async def test_get_by_the_tpp_that_created_it_only(server: tuple[Any, httpx.AsyncClient]) -> None:
    """R/W Data API Profile, "403 (Forbidden)": "The TPP attempted to access a resource with an Id
    that it does not have access to" is 403; "400 (Bad Request) v/s 404 (Not Found)": an Id "that does
    not exist" is 400. The 403 carries nothing of the consent."""
    app, http = server
    alice = await new_funds_tpp(app, http, "alice")
    mallory = await new_funds_tpp(app, http, "mallory")
    created = assert_consent(
        await alice.call("POST", CONSENTS, json=consent_body(ExpirationDateTime=_in(9))), 201
    )
    consent_id = created["Data"]["ConsentId"]
    assert assert_consent(await alice.call("GET", f"{CONSENTS}/{consent_id}"), 200) == created
    stolen = assert_ob_error(
        await mallory.call("GET", f"{CONSENTS}/{consent_id}"), 403, CONSENT_MISMATCH, "ConsentId"
    )
    assert stolen["Errors"] == [
        {
            "ErrorCode": CONSENT_MISMATCH,
            "Message": "this funds-confirmation-consent is another TPP's",
            "Path": "ConsentId",
        }
    ]
    assert_ob_error(await alice.call("GET", f"{CONSENTS}/fcc-unknown"), 400, NOT_FOUND, "ConsentId")
    for odd in ("x" * 300, "%00", "fcc-%E9%96%8B", "fcc-1%27%20OR%201=1"):
        assert_ob_error(await alice.call("GET", f"{CONSENTS}/{odd}"), 400, NOT_FOUND, "ConsentId")
        assert_ob_error(await alice.call("DELETE", f"{CONSENTS}/{odd}"), 400, NOT_FOUND, "ConsentId")


async def test_delete_answers_204_and_the_consent_is_gone(server: tuple[Any, httpx.AsyncClient]) -> None:
    """204FundsConfirmationConsentsConsentIdDeleted; another TPP's DELETE changes nothing; the event
    carries the consent id (the token revocation in kaimen.authz.server hangs off it)."""
    app, http = server
    events: list[Any] = []
    app.components.events.subscribe("consent.deleted", lambda _name, payload: events.append(payload))
    alice = await new_funds_tpp(app, http, "alice")
    mallory = await new_funds_tpp(app, http, "mallory")
    created = assert_consent(await alice.call("POST", CONSENTS, json=consent_body()), 201)
    path = f"{CONSENTS}/{created['Data']['ConsentId']}"
    assert_ob_error(await mallory.call("DELETE", path), 403, CONSENT_MISMATCH, "ConsentId")
    assert_consent(await alice.call("GET", path), 200)
    deleted = await alice.call("DELETE", path)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert deleted.headers["x-fapi-interaction-id"]
    assert_ob_error(await alice.call("GET", path), 400, NOT_FOUND, "ConsentId")
    assert_ob_error(await alice.call("DELETE", path), 400, NOT_FOUND, "ConsentId")
    assert_ob_error(await mallory.call("DELETE", path), 400, NOT_FOUND, "ConsentId")  # gone for everyone
    assert [(p.consent_id, p.client_id, p.status) for p in events] == [
        (created["Data"]["ConsentId"], alice.client_id, "AwaitingAuthorisation")
    ]


async def test_other_methods_and_unserved_paths(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await new_funds_tpp(app, http, "alice")
    created = assert_consent(await alice.call("POST", CONSENTS, json=consent_body()), 201)
    put = await alice.call("PUT", f"{CONSENTS}/{created['Data']['ConsentId']}", json=consent_body())
    assert_ob_error(put, 405, "UK.OBIE.UnexpectedError")
    assert put.headers["allow"] == "DELETE, GET, HEAD"  # RFC 9110 §15.5.6: the methods it serves
    assert_ob_error(await alice.call("GET", "/open-banking/v3.1/cbpii/accounts"), 404, NOT_FOUND)


@pytest.mark.parametrize(
    "policy",
    [{"tier": "PUBLIC"}, {"tier": "ACQUAINTANCE", "auth": "dpop", "scopes": ["openid"]}],
)
def test_a_cbpii_policy_without_dpop_is_refused_at_start_up(
    make_settings: Callable[..., Settings], sqlite_url: str, policy: dict[str, object]
) -> None:
    # kaimen.settings.OB_APIS: refused when the settings are read, before any worker starts.
    with pytest.raises(SettingsError) as caught:
        make_settings(database_url=sqlite_url, apis={"cbpii": policy})
    assert str(caught.value) == (
        "invalid configuration:\n  KAIMEN_APIS__CBPII: "
        "the Confirmation of Funds API needs auth \"dpop\" and scope 'fundsconfirmations'"
    )


def test_the_demo_credentials_publish_the_cbpii_base_path() -> None:
    """DESIGN.md sandbox contract: ``apis.cbpii`` is the Confirmation of Funds API's URL."""
    creds = build("http://localhost:8123", [], [])
    assert creds["apis"]["cbpii"] == "http://localhost:8123/open-banking/v3.1/cbpii"


@pytest.mark.skipif(not (SHARED_OB_SPECS / SPEC_NAME).exists(), reason="../shared/specs not present")
def test_the_packaged_spec_is_byte_identical_to_the_shared_one() -> None:
    assert (PACKAGED_FUNDS_SPECS / SPEC_NAME).read_bytes() == (SHARED_OB_SPECS / SPEC_NAME).read_bytes()
