"""POST/GET/DELETE /open-banking/v3.1/aisp/account-access-consents (UK OB v3.1.11): through the whole
app and gateway, on SQLite and PostgreSQL; every answer checked against the spec file's schemas."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kaimen.apis.accounts.permissions import PERMISSIONS
from kaimen.settings import Settings, SettingsError
from tests.account_consents_support import (
    ALL_SUPPORTED,
    CONSENTS,
    assert_consent_response,
    assert_ob_error,
    consent_body,
    new_tpp,
    spec,
)
from tests.authz_flow_support import b64, dpop_key, harness
from tests.authz_flow_support import proof as flow_proof
from tests.support import PACKAGED_OB_SPECS, SHARED_OB_SPECS

FIELD_INVALID = "UK.OBIE.Field.Invalid"
FIELD_EXPECTED = "UK.OBIE.Field.Expected"
INVALID_DATE = "UK.OBIE.Field.InvalidDate"
NOT_FOUND = "UK.OBIE.Resource.NotFound"
UNSUPPORTED = [
    "ReadBeneficiariesBasic",
    "ReadBeneficiariesDetail",
    "ReadDirectDebits",
    "ReadOffers",
    "ReadPAN",
    "ReadScheduledPaymentsBasic",
    "ReadScheduledPaymentsDetail",
    "ReadStandingOrdersBasic",
    "ReadStandingOrdersDetail",
    "ReadStatementsBasic",
    "ReadStatementsDetail",
]


def _in(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


def test_the_permission_codes_are_the_spec_files() -> None:
    schema = spec()["components"]["schemas"]["OBReadConsent1"]
    assert PERMISSIONS == set(schema["properties"]["Data"]["properties"]["Permissions"]["items"]["enum"])
    assert len(PERMISSIONS) == 21


async def test_create_answers_201_awaiting_authorisation_with_the_dates_as_sent(
    server: tuple[Any, httpx.AsyncClient],
) -> None:
    app, http = server
    alice = await new_tpp(app, http, "alice")
    body = consent_body(
        ALL_SUPPORTED,
        ExpirationDateTime="2099-05-02T00:00:00+08:00",
        TransactionFromDateTime="2025-01-01T00:00:00Z",
        TransactionToDateTime="2026-12-31T23:59:59.123456789+00:00",
    )
    response = await alice.create(body)
    created = assert_consent_response(response, 201)
    data = created["Data"]
    assert data["ConsentId"].startswith("aac-") and len(data["ConsentId"]) >= 36
    assert data["Status"] == "AwaitingAuthorisation"
    assert data["Permissions"] == ALL_SUPPORTED
    # Profile, "Expiration Date Time": left "as provided by the TPP"; the window likewise.
    assert data["ExpirationDateTime"] == "2099-05-02T00:00:00+08:00"
    assert data["TransactionFromDateTime"] == "2025-01-01T00:00:00Z"
    assert data["TransactionToDateTime"] == "2026-12-31T23:59:59.123456789+00:00"
    assert data["CreationDateTime"] == data["StatusUpdateDateTime"]
    assert created["Risk"] == {}
    assert created["Links"] == {"Self": f"http://localhost:8000{CONSENTS}/{data['ConsentId']}"}
    assert created["Meta"] == {"TotalPages": 1}
    assert response.headers["x-fapi-interaction-id"] == "0f8d5c2a-9a1b-4c3d-8e7f-6a5b4c3d2e1f"


async def test_open_ended_consent_has_no_dates_and_ids_are_unguessable(
    server: tuple[Any, httpx.AsyncClient],
) -> None:
    app, http = server
    alice = await new_tpp(app, http, "alice")
    first = assert_consent_response(await alice.create(consent_body()), 201)["Data"]
    second = assert_consent_response(await alice.create(consent_body()), 201)["Data"]
    assert not {"ExpirationDateTime", "TransactionFromDateTime", "TransactionToDateTime"} & set(first)
    assert first["ConsentId"] != second["ConsentId"]


async def test_basic_with_its_detail_code_is_not_refused(server: tuple[Any, httpx.AsyncClient]) -> None:
    """Profile, "Permissions": Basic next to Detail "is not a malformed request, and the ASPSP must not
    reject solely on the basis of duplication"."""
    app, http = server
    alice = await new_tpp(app, http, "alice")
    permissions = ["ReadAccountsBasic", "ReadAccountsDetail", "ReadTransactionsBasic",
                   "ReadTransactionsDetail", "ReadTransactionsDebits"]  # fmt: skip
    assert_consent_response(await alice.create(consent_body(permissions)), 201)


async def test_a_token_from_the_token_endpoint_creates_a_consent(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    """The TPP's real path: client_credentials at /oauth2/token, then the consent with that token."""
    async with harness(make_settings(database_url=database_url)) as h:
        tpp = await h.tpp()
        token = await h.token(tpp, {"grant_type": "client_credentials", "scope": "accounts"})
        assert token.status_code == 200, token.text
        access = token.json()["access_token"]
        ath = b64(hashlib.sha256(access.encode()).digest())  # RFC 9449 §4.2, by hand
        response = await h.http.post(
            CONSENTS,
            json=consent_body(),
            headers={"authorization": f"DPoP {access}", "dpop": flow_proof(dpop_key(), CONSENTS, ath=ath)},
        )
        assert_consent_response(response, 201)


PERMS = "Data.Permissions"
ACC = "ReadAccountsBasic"
ONLY_ACC = {"Permissions": [ACC]}
BAD_BODIES: list[tuple[str, Any, str, str | None]] = [
    ("unknown permission", consent_body([ACC, "ReadEverything"]), FIELD_INVALID, PERMS),
    ("duplicate permission", consent_body([ACC, ACC]), FIELD_INVALID, PERMS),
    ("empty permissions", {"Data": {"Permissions": []}, "Risk": {}}, FIELD_INVALID, PERMS),
    ("permissions not an array", {"Data": {"Permissions": ACC}, "Risk": {}}, FIELD_INVALID, PERMS),
    ("no accounts permission", consent_body(["ReadBalances"]), FIELD_EXPECTED, PERMS),
    ("basic without a direction", consent_body([ACC, "ReadTransactionsBasic"]), FIELD_EXPECTED, PERMS),
    ("detail without a direction", consent_body([ACC, "ReadTransactionsDetail"]), FIELD_EXPECTED, PERMS),
    ("credits without a depth", consent_body([ACC, "ReadTransactionsCredits"]), FIELD_EXPECTED, PERMS),
    ("debits without a depth", consent_body([ACC, "ReadTransactionsDebits"]), FIELD_EXPECTED, PERMS),
    ("expiry in the past", consent_body(ExpirationDateTime="2020-01-01T00:00:00+00:00"), INVALID_DATE,
     "Data.ExpirationDateTime"),
    ("expiry without a zone", consent_body(ExpirationDateTime="2099-01-01T00:00:00"), INVALID_DATE,
     "Data.ExpirationDateTime"),
    ("expiry a date only", consent_body(ExpirationDateTime="2099-01-01"), INVALID_DATE,
     "Data.ExpirationDateTime"),
    ("expiry not a string", consent_body(ExpirationDateTime=4102444800), INVALID_DATE,
     "Data.ExpirationDateTime"),
    ("impossible date", consent_body(TransactionFromDateTime="2025-02-30T00:00:00Z"), INVALID_DATE,
     "Data.TransactionFromDateTime"),
    ("from after to", consent_body(TransactionFromDateTime="2026-02-01T00:00:00Z",
                                   TransactionToDateTime="2026-01-31T23:59:59Z"), INVALID_DATE,
     "Data.TransactionToDateTime"),
    ("missing Risk", {"Data": ONLY_ACC}, "UK.OBIE.Field.Missing", "Risk"),
    ("Risk not an object", {"Data": ONLY_ACC, "Risk": []}, FIELD_INVALID, "Risk"),
    ("Risk with a member", {"Data": ONLY_ACC, "Risk": {"PaymentContextCode": "x"}},
     "UK.OBIE.Field.Unexpected", "Risk.PaymentContextCode"),
    ("missing Data", {"Risk": {}}, "UK.OBIE.Field.Missing", "Data"),
    ("missing Permissions", {"Data": {}, "Risk": {}}, "UK.OBIE.Field.Missing", PERMS),
    ("misspelt Data member", consent_body(ExpirationDatetime=_in(30)), "UK.OBIE.Field.Unexpected",
     "Data.ExpirationDatetime"),
    ("unknown top-level member", {**consent_body(), "Meta": {}}, "UK.OBIE.Field.Unexpected", "Meta"),
    ("a JSON array", [consent_body()], "UK.OBIE.Resource.InvalidFormat", None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "code", "path"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_consent_request_is_refused_with_400(
    server: tuple[Any, httpx.AsyncClient], case: str, body: Any, code: str, path: str | None
) -> None:
    app, http = server
    alice = await new_tpp(app, http, "alice")
    assert_ob_error(await alice.create(body), 400, code, path)


@pytest.mark.parametrize("permission", UNSUPPORTED)
async def test_permission_for_data_kaimen_does_not_serve_is_refused(
    server: tuple[Any, httpx.AsyncClient], permission: str
) -> None:
    """Profile, "Permissions": a permission code "not supported by the ASPSP" must be rejected with 400."""
    app, http = server
    alice = await new_tpp(app, http, "alice")
    response = await alice.create(consent_body(["ReadAccountsDetail", permission]))
    assert_ob_error(response, 400, FIELD_INVALID, "Data.Permissions")
    assert permission in response.json()["Errors"][0]["Message"]


async def test_malformed_json_and_wrong_media_type(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await new_tpp(app, http, "alice")
    malformed = await alice.call("POST", CONSENTS, content=b'{"Data": {"Permissions": [}')
    assert_ob_error(malformed, 400, "UK.OBIE.Resource.InvalidFormat")
    text = await alice.call("POST", CONSENTS, content=b"{}", content_type="text/plain")
    assert_ob_error(text, 415, "UK.OBIE.Header.Invalid", "Content-Type")
    latin1 = await alice.call(
        "POST", CONSENTS, content=b"{}", content_type="application/json; charset=latin-1"
    )
    assert_ob_error(latin1, 415, "UK.OBIE.Header.Invalid", "Content-Type")
    utf8 = "application/json; charset=utf-8"
    assert_consent_response(await alice.call("POST", CONSENTS, json=consent_body(), content_type=utf8), 201)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8; q=1",
        'application/json; charset="utf-8"',
        "Application/JSON;Charset=UTF-8",
    ],
)
async def test_content_type_parameters_are_accepted(
    server: tuple[Any, httpx.AsyncClient], content_type: str
) -> None:
    """R/W Data API Profile, "Request Headers", Content-Type: "The TPP may provide additional information
    (e.g. a 'q' value and charset)"; RFC 9110 §5.6.6: a quoted value is the same value, and names are
    case-insensitive."""
    app, http = server
    alice = await new_tpp(app, http, "alice")
    created = await alice.call("POST", CONSENTS, json=consent_body(), content_type=content_type)
    assert assert_consent_response(created, 201)["Data"]["Status"] == "AwaitingAuthorisation"


async def test_no_token_is_refused_401(server: tuple[Any, httpx.AsyncClient]) -> None:
    _app, http = server
    response = await http.post(CONSENTS, json=consent_body())
    assert_ob_error(response, 401, "UK.OBIE.Header.Missing")
    assert response.headers["www-authenticate"].startswith("DPoP algs=")


async def test_token_without_scope_accounts_is_refused_403(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    payer = await new_tpp(app, http, "payer", scope="payments")
    response = await payer.create(consent_body())
    assert_ob_error(response, 403, "UK.OBIE.Resource.ConsentMismatch")
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_customer_token_is_refused_on_every_consent_endpoint(
    server: tuple[Any, httpx.AsyncClient],
) -> None:
    """Profile, "Grants Types": client credentials for account-access-consents, not the customer's token."""
    app, http = server
    alice = await new_tpp(app, http, "alice")
    consent_id = await alice.consent_id(consent_body())
    customer = await new_tpp(app, http, "bob", scope="openid accounts", customer="cust-1")
    for method, path in (("POST", CONSENTS), ("GET", f"{CONSENTS}/{consent_id}"),
                         ("DELETE", f"{CONSENTS}/{consent_id}")):  # fmt: skip
        response = await customer.call(method, path, json=consent_body() if method == "POST" else None)
        assert_ob_error(response, 403, "UK.OBIE.Resource.ConsentMismatch", "Authorization")


async def test_get_by_the_tpp_that_created_it_only(server: tuple[Any, httpx.AsyncClient]) -> None:
    """R/W Data API Profile, "403 (Forbidden)": "The TPP attempted to access a resource with an Id
    that it does not have access to" is 403; "400 (Bad Request) v/s 404 (Not Found)": an Id "that does
    not exist" is 400. The 403 carries nothing of the consent."""
    app, http = server
    alice = await new_tpp(app, http, "alice")
    mallory = await new_tpp(app, http, "mallory")
    created = (await alice.create(consent_body(ExpirationDateTime=_in(90)))).json()
    consent_id = created["Data"]["ConsentId"]
    read = assert_consent_response(await alice.call("GET", f"{CONSENTS}/{consent_id}"), 200)
    assert read == created
    stolen = await mallory.call("GET", f"{CONSENTS}/{consent_id}")
    assert_ob_error(stolen, 403, "UK.OBIE.Resource.ConsentMismatch", "ConsentId")
    assert stolen.json()["Errors"] == [
        {
            "ErrorCode": "UK.OBIE.Resource.ConsentMismatch",
            "Message": "this account-access-consent is another TPP's",
            "Path": "ConsentId",
        }
    ]
    assert consent_id not in stolen.text
    assert_ob_error(await alice.call("GET", f"{CONSENTS}/aac-unknown"), 400, NOT_FOUND, "ConsentId")
    for odd in ("x" * 300, "%00", "aac-%E9%96%8B", "aac-1%27%20OR%201=1"):
        assert_ob_error(await alice.call("GET", f"{CONSENTS}/{odd}"), 400, NOT_FOUND, "ConsentId")
        assert_ob_error(await alice.call("DELETE", f"{CONSENTS}/{odd}"), 400, NOT_FOUND, "ConsentId")


async def test_delete_answers_204_and_the_consent_is_gone(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    events: list[tuple[str, Any]] = []
    app.components.events.subscribe("consent.deleted", lambda name, payload: events.append((name, payload)))
    alice = await new_tpp(app, http, "alice")
    mallory = await new_tpp(app, http, "mallory")
    consent_id = await alice.consent_id(consent_body())
    path = f"{CONSENTS}/{consent_id}"
    assert_ob_error(await mallory.call("DELETE", path), 403, "UK.OBIE.Resource.ConsentMismatch", "ConsentId")
    assert_consent_response(await alice.call("GET", path), 200)  # another TPP's DELETE changed nothing
    deleted = await alice.call("DELETE", path)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert deleted.headers["x-fapi-interaction-id"]
    assert_ob_error(await alice.call("GET", path), 400, NOT_FOUND, "ConsentId")
    assert_ob_error(await alice.call("DELETE", path), 400, NOT_FOUND, "ConsentId")
    assert_ob_error(await mallory.call("GET", path), 400, NOT_FOUND, "ConsentId")  # gone for everyone
    assert [(n, p.consent_id, p.client_id, p.status) for n, p in events] == [
        ("consent.deleted", consent_id, alice.client_id, "AwaitingAuthorisation")
    ]


async def test_other_methods_and_unserved_endpoints(server: tuple[Any, httpx.AsyncClient]) -> None:
    """An endpoint Kaimen does not serve answers 404 (issue 4, item 2), in the OB error shape."""
    app, http = server
    alice = await new_tpp(app, http, "alice")
    consent_id = await alice.consent_id(consent_body())
    put = await alice.call("PUT", f"{CONSENTS}/{consent_id}", json=consent_body())
    assert_ob_error(put, 405, "UK.OBIE.UnexpectedError")
    assert put.headers["allow"] == "DELETE, GET, HEAD"  # RFC 9110 §15.5.6: the methods it serves
    assert_ob_error(await alice.call("GET", "/open-banking/v3.1/aisp/beneficiaries"), 404, NOT_FOUND)


@pytest.mark.parametrize(
    "policy",
    [{"tier": "PUBLIC"}, {"tier": "ACQUAINTANCE", "auth": "dpop", "scopes": ["openid"]}],
)
def test_an_aisp_policy_without_dpop_is_refused_at_start_up(
    make_settings: Callable[..., Settings], sqlite_url: str, policy: dict[str, object]
) -> None:
    # kaimen.settings.OB_APIS: refused when the settings are read, before any worker starts.
    with pytest.raises(SettingsError) as caught:
        make_settings(database_url=sqlite_url, apis={"aisp": policy})
    assert str(caught.value) == (
        "invalid configuration:\n  KAIMEN_APIS__AISP: "
        "the Account API needs auth \"dpop\" and scope 'accounts'"
    )


@pytest.mark.skipif(
    not (SHARED_OB_SPECS / "account-info-openapi.json").exists(),
    reason="../shared/specs not present: nothing to compare with",
)
def test_the_packaged_account_info_spec_is_byte_identical_to_the_shared_one() -> None:
    name = "account-info-openapi.json"
    assert (PACKAGED_OB_SPECS / name).read_bytes() == (SHARED_OB_SPECS / name).read_bytes()
