"""Accept on the UK OB APIs: a client that accepts no JSON is refused with 406.

UK OB Read/Write Data API Profile, "Request Headers", Accept: "If set to an unacceptable value the
ASPSP must respond with a 406 (Not Acceptable)". Every response of the Account, Payment and Funds
APIs here is ``application/json; charset=utf-8`` (the first of the media types the v3.1.11 OpenAPI
files list). The files also list ``application/jose+jwe``, but Kaimen never encrypts a response, so an
Accept that admits only that is unacceptable too.

The field is read as RFC 9110 §12.5.1 says:

- a list of media ranges (``type/subtype``, ``type/*`` or ``*/*``), each with parameters. "Recipients
  SHOULD process any parameter named "q" as weight, regardless of parameter ordering" (§12.4.2: "A
  value of 0 means "not acceptable""; a malformed weight spoils its element); any other parameter
  must match the representation's: ``charset=utf-8`` does, any other charset or parameter does not;
- "If more than one media range applies to a given type, the most specific reference has
  precedence": ``application/json;q=0, */*`` refuses JSON, ``*/*;q=0, application/json`` accepts it;
- "A request without any Accept header field implies that the user agent will accept any media type
  in response", and so does a field with no value here (it names no preference). An element that is
  not a media range is ignored; if nothing left accepts JSON, the answer is 406.

The answer is 406 ``UK.OBIE.Header.Invalid`` ("An invalid value is supplied in the HTTP header") in
OBErrorResponse1, with ``accept`` as its ``Path``.
"""

from __future__ import annotations

import re

from kaimen.apis import media_type
from kaimen.apis.media_type import QUOTED
from kaimen.errors import NotAcceptable

ACCEPT = b"accept"

# One list element: commas inside a quoted parameter value do not end it.
_ELEMENT = re.compile(rf'(?:[^,"]|{QUOTED})+')
# RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")

# The values clients send most, answered without parsing.
_PLAINLY_JSON = frozenset({b"application/json", b"*/*", b"application/json; charset=utf-8"})


def accepts_json(field: str) -> bool:
    """Whether an Accept field value admits ``application/json; charset=utf-8`` (RFC 9110 §12.5.1)."""
    best: tuple[int, float] | None = None  # (specificity, weight) of the most specific matching range
    for element in _ELEMENT.findall(field):
        if not element.strip():
            continue  # RFC 9110 §5.6.1: empty list elements are allowed and mean nothing
        judged = _judge(element)
        if judged is not None and (best is None or judged > best):
            best = judged
    return best is not None and best[1] > 0


def _judge(element: str) -> tuple[int, float] | None:
    """(specificity, weight) when the media range ``element`` matches JSON in UTF-8, else None (no
    match, or not a media range). Specificity: ``*/*`` 0, ``application/*`` 2, ``application/json``
    4, one more with ``charset=utf-8``."""
    parsed = media_type.parse(element)
    if parsed is None:
        return None
    media, parameters = parsed
    if media == "*/*":
        specificity = 0
    elif media == "application/*":
        specificity = 2
    elif media == "application/json":
        specificity = 4
    else:
        return None  # another media type, or "*/json", which is no media range at all
    weight = 1.0
    for name, value in parameters.items():
        if name == "q":
            if _QVALUE.fullmatch(value) is None:
                return None
            weight = float(value)
        elif name == "charset" and value.lower() == "utf-8":
            specificity += 1
        else:
            return None  # a parameter the representation does not have
    return specificity, weight


def require_json_accepted(headers: list[tuple[bytes, bytes]]) -> None:
    """Raise 406 when the request's Accept field (its lines joined, RFC 9110 §5.3) admits no JSON."""
    lines = [value for name, value in headers if name == ACCEPT]
    if not lines:
        return
    field = b", ".join(lines)
    if field in _PLAINLY_JSON or not field.strip(b" \t,"):
        return
    if not accepts_json(field.decode("latin-1")):
        raise NotAcceptable(
            "the Accept header admits no media type this API answers in: application/json",
            path=ACCEPT.decode(),
        )
