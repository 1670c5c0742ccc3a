"""Property-based (hypothesis) fuzzing of every parser of hostile input (issue 6 item 4): the budget,
the case counter, hostile-input strategies, and the three error formats every refusal must take.

Budget: ``FUZZ`` runs ``KAIMEN_FUZZ_EXAMPLES`` examples per property (default 60, so ``make test``
stays quick); ``make fuzz`` sets 2000. Runs are derandomized (the same cases every time, so CI is
reproducible) unless ``KAIMEN_FUZZ_RANDOM=1``. Each property counts its cases with :func:`count`; this
counter is printed at the end of the session, per property and in total, by tests.fuzz_plugin (which
the fuzz modules name in ``pytest_plugins``).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections import Counter
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from kaimen.errors.render import OPENDATA_FIXED

EXAMPLES = int(os.environ.get("KAIMEN_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("KAIMEN_FUZZ_RANDOM") != "1",
    database=None,
    # The app is built once per property (a function-scoped fixture) and shared by its examples on
    # purpose: a hostile request must not need a fresh server to be refused cleanly.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
# Rate limits are not what these tests check: every API of the app under test allows plenty.
GENEROUS = "1000000/minute"

CASES: Counter[str] = Counter()
# (property, status, error code) of every HTTP answer: shown with -v, to see how deep the cases reach.
OUTCOMES: Counter[tuple[str, int, str]] = Counter()
_current = [""]


def count(prop: str) -> None:
    """One more case of property ``prop`` ran."""
    CASES[prop] += 1
    _current[0] = prop


def end_property() -> None:
    """No property is running (a plain test's answers are not counted among the outcomes)."""
    _current[0] = ""


def _outcome(response: httpx.Response, code: str) -> None:
    if _current[0]:
        OUTCOMES[(_current[0], response.status_code, code)] += 1


def generous_apis() -> dict[str, Any]:
    """Every API's policy as configured by default, with rate limits no fuzz run reaches."""
    from kaimen.settings import _default_apis

    apis: dict[str, Any] = {}
    for name, policy in _default_apis().items():
        data = policy.model_dump(mode="json")
        data.update(ip_rate=GENEROUS, default_app_rate=GENEROUS, app_rate={})
        if policy.customer_present_rate or policy.unattended_rate:
            data.update(customer_present_rate=GENEROUS, unattended_rate=GENEROUS)
        apis[name] = data
    return apis


# -- strategies -----------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# JSON numbers Python's json module cannot write but a parser must survive: gigantic, tiny, exponents.
BIG_NUMBERS = st.sampled_from(
    ["1e400", "-1e400", "123456789012345678901234567890", "-99999999999999999999", "1e-400", "0.0", "-0"]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


class Raw(str):
    """JSON text inserted verbatim (a number Python cannot write, broken JSON)."""


# Claim values written verbatim: numbers past float and 64-bit range, and a fraction.
BIG_NUMBER_CLAIMS = st.sampled_from(["1e400", "-1e400", "1e308", "18446744073709551616", "1.5"]).map(Raw)


def dumps(value: Any) -> str:
    """JSON text of ``value``, where a :class:`Raw` anywhere is written as is."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


HOSTILE_VALUES = JSON_VALUES | BIG_NUMBERS.map(Raw) | st.text(max_size=5000).map(lambda s: s * 3)


def hostile_object(known: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object that starts from ``known`` (good members, or strategies for them) and has some
    replaced by hostile values, some removed, and random members added."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for name, value in known.items():
            choice = draw(st.integers(0, 4))
            if choice == 0:
                obj[name] = draw(HOSTILE_VALUES)
            elif choice > 1:
                obj[name] = draw(value) if isinstance(value, st.SearchStrategy) else value
        obj.update(draw(st.dictionaries(st.text(max_size=8), HOSTILE_VALUES, max_size=3)))
        return obj

    return build()


SEGMENTS = st.one_of(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=60),
    st.binary(max_size=60).map(b64),
    JSON_VALUES.map(lambda v: b64(json.dumps(v).encode())),
    st.text(max_size=30),
)


def jose_header(extra: dict[str, Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """JOSE headers of the kinds an attacker sends: alg none/HS256/unknown/non-string, huge kids,
    nested objects, crit, b64, typ games."""
    return hostile_object(
        {
            "alg": st.sampled_from(["none", "HS256", "RS256", "PS256", "ES256", "EdDSA", "ES512", "PS256 "]),
            "kid": st.one_of(st.text(max_size=10), st.just("k" * 5000), JSON_VALUES),
            "typ": st.sampled_from(["JWT", "dpop+jwt", "DPOP+JWT", "at+jwt", ""]),
            **(extra or {}),
        }
    )


def compact(header: Any, claims: Any, signature: bytes = b"") -> str:
    """A compact JWS of any header and claims (JSON or raw text), signature bytes as given."""
    head = header if isinstance(header, str) and not isinstance(header, Raw) else dumps(header)
    body = claims if isinstance(claims, str) and not isinstance(claims, Raw) else dumps(claims)
    return (
        b64(head.encode("utf-8", "surrogatepass"))
        + "."
        + b64(body.encode("utf-8", "surrogatepass"))
        + "."
        + b64(signature)
    )


def jwt_garbage(
    header: st.SearchStrategy[Any] | None = None, claims: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[str]:
    """Strings shaped (or nearly shaped) like a compact JWT, and plain garbage."""
    header = header if header is not None else jose_header()
    claims = claims if claims is not None else HOSTILE_VALUES
    return st.one_of(
        st.text(max_size=200),
        st.lists(SEGMENTS, min_size=1, max_size=6).map(".".join),
        st.builds(compact, header, claims, st.binary(max_size=300)),
        st.builds(compact, st.text(max_size=40), claims, st.binary(max_size=64)),  # header not JSON
        st.builds(compact, header, st.text(max_size=40), st.binary(max_size=64)),  # claims not JSON
        st.builds(compact, JSON_VALUES, JSON_VALUES),  # arrays where objects belong, and the like
        st.just("a" * 20000),
        st.just("e30.e30." + "A" * 20000),
    )


def broken_jwk(good: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A JWK derived from ``good`` with members broken: wrong kty, missing n/e or x/y, other curves,
    private members, x5c junk, wrong types; or no object at all."""
    tweaks = st.fixed_dictionaries(
        {},
        optional={
            "kty": st.sampled_from(["RSA", "EC", "OKP", "oct", "rsa", "", "XYZ"]),
            "crv": st.sampled_from(["P-256", "P-384", "P-521", "secp256k1", "Ed25519", "X25519", "P-1"]),
            "x5c": st.one_of(st.lists(st.text(max_size=30), max_size=3), st.just(["MIIB" + "A" * 100])),
            "d": st.binary(min_size=1, max_size=40).map(b64),
            "n": st.binary(max_size=300).map(b64),
            "e": st.sampled_from(["AQAB", "", "AA", "////", "AQ"]),
            "k": st.binary(max_size=32).map(b64),
            "alg": st.sampled_from(["PS256", "ES256", "RS256", "HS256", "none"]) | JSON_VALUES,
            "use": st.sampled_from(["sig", "enc", ""]) | JSON_VALUES,
        },
    )
    mutated = st.builds(lambda base, extra: {**base, **extra}, hostile_object(good), tweaks)
    return st.one_of(mutated, JSON_VALUES)


FORM_TEXT = st.text(max_size=60) | st.text(max_size=3).map(lambda s: s * 3000)


def form_bytes(known: dict[str, str]) -> st.SearchStrategy[bytes]:
    """Raw form bodies: good parameters with hostile values, duplicates, random keys, bad escapes,
    bytes that are not UTF-8."""
    from urllib.parse import quote_plus

    pair = st.tuples(st.sampled_from(sorted(known)) | st.text(max_size=20), FORM_TEXT).map(
        lambda kv: quote_plus(kv[0]) + "=" + quote_plus(kv[1])
    )
    known_pairs = "&".join(quote_plus(k) + "=" + quote_plus(v) for k, v in known.items())
    junk = st.sampled_from(["%", "%zz", "%ff", "%C3%28", "&&", "=", "a=b=c", ";", "\x00", "+%2B"])
    encoded = st.lists(pair | junk, max_size=8).map(lambda parts: "&".join(parts).encode())
    return st.one_of(
        encoded.map(lambda b: known_pairs.encode() + b"&" + b),
        encoded,
        st.binary(max_size=400),
        st.binary(max_size=50).map(lambda b: known_pairs.encode() + b"&x=" + b),
        st.integers(65, 200).map(lambda n: "&".join(f"p{i}=v" for i in range(n)).encode()),
    )


CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=latin-1",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/json",
        "multipart/form-data; boundary=x",
        "text/plain",
        "",
        "application/x-www-form-urlencoded\x00",
    ]
)

# Header values as bytes on the wire: latin-1 and beyond, long, empty, control characters.
HEADER_VALUES = st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80).map(
        lambda s: s.encode("latin-1")
    ),
    st.integers(1, 20000).map(lambda n: b"x" * n),
    st.sampled_from([b"", b" ", b"null", b"DPoP", b"Bearer", b"DPoP  ", b"Basic Zm9vOmJhcg=="]),
)


def http_dates() -> st.SearchStrategy[bytes]:
    """Strings close to the IMF-fixdate of x-fapi-auth-date, and far from it."""
    days = st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Xyz", "mon"])
    months = st.sampled_from(["Jan", "Feb", "Jun", "Dec", "Foo"])
    fixdate = st.builds(
        lambda d, dd, m, y, hh, mm, ss, z: f"{d}, {dd:02d} {m} {y:04d} {hh:02d}:{mm:02d}:{ss:02d} {z}",
        days,
        st.integers(0, 99),
        months,
        st.integers(0, 9999),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
        st.sampled_from(["GMT", "UTC", "PST", ""]),
    )
    return fixdate.map(str.encode) | HEADER_VALUES


# -- gateway headers and queries ------------------------------------------------------------------


def _header_names(*names: bytes) -> st.SearchStrategy[bytes]:
    return st.sampled_from(names) | st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20).map(
        str.encode
    )


GATEWAY_HEADERS = st.lists(
    st.tuples(
        _header_names(
            b"x-fapi-interaction-id",
            b"x-fapi-auth-date",
            b"x-fapi-customer-ip-address",
            b"authorization",
            b"x-api-key",
            b"dpop",
            b"accept",
            b"if-none-match",
            b"if-modified-since",
            b"content-length",
            b"x-forwarded-for",
            b"transfer-encoding",
        ),
        HEADER_VALUES
        | http_dates()
        | st.sampled_from([str(uuid.UUID(int=0)).encode(), b"1.2.3.4", b"::1", b"*"]),
    ),
    max_size=6,
)
# Mostly none: past the gateway's max_header_count every request is refused 431 before anything else.
MANY_HEADERS = st.just([]) | st.integers(0, 90).map(lambda n: [(f"x-h{i}".encode(), b"v") for i in range(n)])
QUERIES = st.dictionaries(
    st.sampled_from(["api_key", "key", "page", "fromBookingDateTime", "toBookingDateTime", "x"])
    | st.text(max_size=8),
    st.text(max_size=40)
    | st.sampled_from(
        [
            "2024-01-01",
            "2024-02-30T25:61:61",
            "0000-00-00",
            "9999-12-31T23:59:59+23:59",
            "0",
            "99999999999999999999",
        ]
    ),
    max_size=3,
)


def with_headers(
    base: list[tuple[bytes, bytes]], hostile: list[tuple[bytes, bytes]], replace: bool
) -> list[tuple[bytes, bytes]]:
    """``hostile`` headers added to ``base`` (or replacing the base headers of the same name)."""
    if replace:
        names = {name for name, _ in hostile}
        base = [(name, value) for name, value in base if name not in names]
    return base + hostile


# -- the three error formats ----------------------------------------------------------------------

# RFC 6749 §5.2: error_description characters %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION_CHARS = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


def no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])


def accepted(response: httpx.Response) -> None:
    """A success answer, recorded among the outcomes."""
    _outcome(response, "ok")


def assert_oauth_refusal(response: httpx.Response) -> dict[str, Any]:
    """An RFC 6749 §5.2 error object (never a 5xx)."""
    no_server_error(response)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    _outcome(response, body["error"])
    assert set(body.get("error_description", "")) <= _DESCRIPTION_CHARS, body
    return body


def assert_ob_refusal(response: httpx.Response) -> dict[str, Any]:
    """An OBErrorResponse1 (UK OB v3.1.11), the interaction id on the response (never a 5xx)."""
    from tests.account_consents_support import assert_valid

    no_server_error(response)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert response.headers["x-fapi-interaction-id"]
    body: dict[str, Any] = response.json()
    assert_valid("OBErrorResponse1", body)
    assert body["Code"].startswith(str(response.status_code)), body
    _outcome(response, body["Errors"][0]["ErrorCode"])
    return body


def assert_opendata_refusal(response: httpx.Response, *, fixed_texts: bool = True) -> dict[str, Any]:
    """The Open Data v2 error object, with the texts the Swagger files fix for its status unless
    ``fixed_texts`` is False (a path that is no operation of a Swagger file); never a 5xx."""
    no_server_error(response)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    body: dict[str, Any] = response.json()
    assert set(body) == {"status", "title", "description"}, body
    assert body["status"] == str(response.status_code)
    if fixed_texts and response.status_code in OPENDATA_FIXED:  # the Swagger files fix these (an enum)
        assert (body["title"], body["description"]) == OPENDATA_FIXED[response.status_code], body
    _outcome(response, body["title"])
    return body
