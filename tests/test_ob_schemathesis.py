"""Schemathesis over the UK OB v3.1.11 operations Kaimen serves, the spec files as the external contract
(issue 6, item 4 "Hostile input"): generated requests, valid (positive) and invalid (negative) by the
file, go to a live ``kaimen serve``, each sent with valid credentials (a DPoP-bound token and a fresh
proof, and the signature and idempotency key where the file asks for them:
tests.ob_schemathesis_support.ObAuth). Every answer must be no 5xx and conform to the file: a documented
status, a documented media type, the documented required headers, the documented body schema.

Half the cases go as generated, except that a generated body's ``Data.ConsentId`` names the Authorised
consent half the time. The other half are steered past the gateway into the handlers: real path
parameters, a valid x-fapi-auth-date and x-fapi-customer-ip-address where the case has them (a string
of the schema is seldom a date or an address), a valid body; whatever else the case holds, invalid
parts of a negative case included, stays as generated. Every operation must answer 2xx at least once.

Each spec file's operations are filtered to the routes Kaimen has under the API's base path, and the
two sets must be equal, so a new route cannot go untested silently. Each file's line of operations,
cases and statuses is printed. Budget: ``KAIMEN_SCHEMATHESIS_EXAMPLES`` cases per operation (default
20: some 20 seconds for the module on two cores); runs are derandomized unless ``KAIMEN_FUZZ_RANDOM=1``
(tests.fuzz_support.FUZZ).
"""

from __future__ import annotations

import copy
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from kaimen.settings import Settings
from tests.fuzz_support import FUZZ
from tests.ob_schemathesis_support import AISP, CBPII, PISP, ApiCredentials, LiveBank, live_bank
from tests.support import ob_spec

pytestmark = pytest.mark.server

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]

EXAMPLES_PER_OPERATION = int(os.environ.get("KAIMEN_SCHEMATHESIS_EXAMPLES", "20"))
CASE_SETTINGS = settings(FUZZ, max_examples=EXAMPLES_PER_OPERATION, suppress_health_check=list(HealthCheck))
# An RFC 7231 §7.1.1.1 IMF-fixdate an hour ago; an address of TEST-NET-2 (RFC 5737).
VALID_HEADERS: dict[str, Callable[[], str]] = {
    "x-fapi-auth-date": lambda: formatdate(time.time() - 3600, usegmt=True),
    "x-fapi-customer-ip-address": lambda: "198.51.100.23",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class ObSpec:
    api: str
    file_name: str
    base: str


SPECS = (
    ObSpec("aisp", "account-info-openapi.json", AISP),
    ObSpec("cbpii", "confirmation-funds-openapi.json", CBPII),
    ObSpec("pisp", "payment-initiation-openapi.json", PISP),
)


@dataclass
class Tally:
    """What one spec file's cases met: statuses overall and per operation."""

    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: dict[str, Counter[int]] = field(default_factory=dict)

    def record(self, label: str, status: int) -> None:
        self.statuses[status] += 1
        self.by_operation.setdefault(label, Counter())[status] += 1

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())

    def line(self, spec: ObSpec) -> str:
        seen = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return f"{spec.file_name}: {len(self.by_operation)} operations, {self.cases} cases ({seen})"


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBank]:
    with live_bank(tmp_path_factory.mktemp("ob-schemathesis")) as running:
        yield running


def served(settings: Settings, base: str) -> set[tuple[str, str]]:
    """(METHOD, path under ``base``) of every route the app has under the API's base path."""
    from kaimen.app import create_app

    app = create_app(settings)
    routes = [r for r in app.router.router.routes if isinstance(r, Route) and r.path.startswith(base + "/")]
    # Starlette adds HEAD to every GET route; the spec files define no HEAD operation.
    return {(m, r.path.removeprefix(base)) for r in routes for m in (r.methods or set()) - {"HEAD"}}


def reach_handlers(case: Case, draw: Callable[[Any], Any], api: ApiCredentials, *, customer: bool) -> None:
    """The steering of the module docstring. A DELETE never gets the Authorised consent, which the
    other operations' tokens rest on; a ``customer`` token's operation gets no consent but that one."""
    if not draw(st.booleans()):
        data = case.body.get("Data") if isinstance(case.body, dict) else None
        if isinstance(data, dict) and "ConsentId" in data and draw(st.booleans()):
            data["ConsentId"] = api.consent_id
        return
    for name in case.path_parameters or {}:
        pool = api.ids.get(name, [])
        if case.method.upper() == "DELETE":
            pool = [i for i in pool if i != api.consent_id]
        elif customer and name == "ConsentId":
            pool = [api.consent_id]
        if pool:
            case.path_parameters[name] = draw(st.sampled_from(pool))
    for name, valid in VALID_HEADERS.items():
        if case.headers and name in case.headers:
            case.headers[name] = valid()
    valid_body = api.bodies.get(case.operation.path)
    if valid_body is not None and not isinstance(case.body, NotSet):
        case.body = copy.deepcopy(valid_body)


def run_operation(operation: Operation, spec: ObSpec, bank: LiveBank, tally: Tally) -> None:
    api = bank.apis[spec.api]
    # The file's security names the grant: TPPOAuth2Security is the TPP's client_credentials token,
    # PSUOAuth2Security the customer's authorization_code token.
    (scheme,) = {name for requirement in operation.definition.raw["security"] for name in requirement}
    token = {"TPPOAuth2Security": api.tpp_token, "PSUOAuth2Security": api.psu_token}[scheme]
    declared = {parameter.name.lower() for parameter in operation.headers}
    auth = bank.auth(token, signed="x-jws-signature" in declared, idempotent="x-idempotency-key" in declared)
    base_url = bank.instance.base + spec.base
    cases = st.one_of(operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases, data=st.data())
    @CASE_SETTINGS
    def check(case: Case, data: st.DataObject) -> None:
        reach_handlers(case, data.draw, api, customer=scheme == "PSUOAuth2Security")
        response = case.call(base_url=base_url, auth=auth, timeout=10)
        tally.record(operation.label, response.status_code)
        case.validate_response(response, checks=CHECKS)

    check()


@pytest.mark.parametrize("spec", SPECS, ids=[s.api for s in SPECS])
def test_every_generated_request_to_a_served_operation_gets_a_conforming_answer(
    bank: LiveBank,
    make_settings: Callable[..., Settings],
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    spec: ObSpec,
) -> None:
    schema = schemathesis.openapi.from_path(ob_spec(spec.file_name))
    every = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    routes = served(make_settings(database_url=sqlite_url), spec.base)
    operations = [op for op in every if (op.method.upper(), op.path) in routes]
    assert {(op.method.upper(), op.path) for op in operations} == routes

    tally = Tally()
    for operation in operations:
        run_operation(operation, spec, bank, tally)

    with capsys.disabled():
        print(f"\nschemathesis {tally.line(spec)}")
    assert len(tally.by_operation) == len(routes)
    # Hypothesis may stop short of the budget on a small search space, never below a few per operation.
    assert tally.cases >= 5 * len(routes), tally.line(spec)
    unreached = {label for label, seen in tally.by_operation.items() if not any(200 <= s < 300 for s in seen)}
    assert unreached == set(), tally.by_operation


GOOD_ACCOUNTS = (
    b'{"Data": {"Account": []}, "Links": {"Self": "https://bank.test/a"}, "Meta": {"TotalPages": 1}}'
)
# An OBErrorResponse1 as the file documents it for 500: only the status itself is wrong.
SERVER_ERROR = (
    b'{"Code": "500 Internal Server Error", "Message": "Internal Server Error", '
    b'"Errors": [{"ErrorCode": "UK.OBIE.UnexpectedError", "Message": "Internal Server Error"}]}'
)
GOOD_HEADERS = {
    "content-type": ["application/json; charset=utf-8"],
    "x-fapi-interaction-id": ["93bac548-d2de-4546-b106-880a5018460d"],
}


@pytest.mark.parametrize(
    ("status", "content", "headers", "failure"),
    [
        (500, SERVER_ERROR, GOOD_HEADERS, "ServerError"),
        (418, GOOD_ACCOUNTS, GOOD_HEADERS, "UndefinedStatusCode"),
        (200, b'{"Data": {"Account": 1}}', GOOD_HEADERS, "JsonSchemaError"),
        (200, GOOD_ACCOUNTS, {**GOOD_HEADERS, "content-type": ["text/html"]}, "UndefinedContentType"),
        (200, GOOD_ACCOUNTS, {"content-type": GOOD_HEADERS["content-type"]}, "MissingHeaders"),
    ],
    ids=["5xx", "undocumented-status", "off-schema-body", "undocumented-media-type", "missing-header"],
)
def test_the_checks_refuse_each_kind_of_nonconforming_answer(
    status: int, content: bytes, headers: dict[str, list[str]], failure: str
) -> None:
    """The checks have teeth against the OB files: a conforming GET /accounts answer passes, and each
    single departure from the file is refused by the check for it."""
    operation = schemathesis.openapi.from_path(ob_spec("account-info-openapi.json"))["/accounts"]["GET"]
    case = operation.Case()
    request = requests.Request("GET", "http://127.0.0.1:1/open-banking/v3.1/aisp/accounts").prepare()

    def answer(status: int, content: bytes, headers: dict[str, list[str]]) -> schemathesis.Response:
        return schemathesis.Response(
            status_code=status,
            headers=headers,
            content=content,
            request=request,
            elapsed=0.0,
            message="",
            encoding="utf-8",
            http_version="1.1",
            verify=True,
        )

    case.validate_response(answer(200, GOOD_ACCOUNTS, GOOD_HEADERS), checks=CHECKS)
    with pytest.raises(FailureGroup) as refused:
        case.validate_response(answer(status, content, headers), checks=CHECKS)
    assert [type(f).__name__ for f in refused.value.exceptions] == [failure]
