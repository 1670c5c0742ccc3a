"""The OAuth endpoints' form reading (RFC 6749 §3.2 and §3.1, the WHATWG urlencoded parser's rules):
each malformed body is refused with invalid_request before any parameter is used."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from kaimen.authz.errors import InvalidRequest
from kaimen.authz.http import MAX_FORM_FIELDS, read_form


def _request(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/oauth2/token",
        "headers": [(b"content-type", content_type.encode())],
        "query_string": b"",
    }
    return Request(scope, receive)


async def test_a_form_is_read_with_plus_as_space_and_percent_escapes_as_utf8() -> None:
    form = await read_form(_request(b"grant_type=client_credentials&scope=accounts+payments&n=%E5%8F%B0&e="))
    assert form == {"grant_type": "client_credentials", "scope": "accounts payments", "n": "台", "e": ""}


async def test_the_content_type_may_carry_a_charset() -> None:
    form = await read_form(_request(b"a=1", "Application/X-WWW-Form-Urlencoded; charset=UTF-8"))
    assert form == {"a": "1"}


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"a=1&a=2", None, "parameter a included more than once"),
        (b"scope=%FF", None, "the body is not a valid application/x-www-form-urlencoded form"),
        (b"scope=\xff", None, "the body is not a valid application/x-www-form-urlencoded form"),
        (b"&".join(b"f%d=1" % n for n in range(MAX_FORM_FIELDS + 1)), None,
         "the body is not a valid application/x-www-form-urlencoded form"),
        (b'{"grant_type": "client_credentials"}', "application/json",
         "the body must be application/x-www-form-urlencoded"),
        (b"--x\r\n", "multipart/form-data; boundary=x", "the body must be application/x-www-form-urlencoded"),
    ],
)  # fmt: skip
async def test_a_malformed_form_is_refused(body: bytes, content_type: str | None, message: str) -> None:
    request = _request(body, content_type) if content_type else _request(body)
    with pytest.raises(InvalidRequest) as refused:
        await read_form(request)
    assert refused.value.description == message
