"""Conditional GET/HEAD (RFC 9110 §13), shared by the Product API handler and the response cache.

- §13.1.2 If-None-Match: ``*`` or a list of entity tags; GET/HEAD use the weak comparison (§8.8.3.2:
  two tags match when their opaque-tags are equal, either or both may be weak). A match means 304.
- §13.1.3 If-Modified-Since: "A recipient MUST ignore If-Modified-Since if the request contains an
  If-None-Match header field"; it MUST also be ignored when the value is not a valid HTTP-date or has
  more than one member. Not modified when Last-Modified is earlier than or equal to the date given.
- §15.4.5 304: the server MUST send the Cache-Control, ETag and Vary it would have sent in a 200.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_ENTITY_TAG = re.compile(rb'(?:W/)?"([^"]*)"')
# RFC 9110 §5.6.7: recipients MUST accept IMF-fixdate and the obsolete RFC 850 and asctime formats.
_OBSOLETE_DATES = ("%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y")


def none_match(field: bytes, etag: bytes) -> bool:
    """True when If-None-Match ``field`` matches ``etag`` (weak comparison)."""
    if field.strip() == b"*":
        return True
    opaque = etag[etag.find(b'"') :].strip(b'"')
    return any(tag == opaque for tag in _ENTITY_TAG.findall(field))


def http_date(field: bytes) -> int | None:
    """Seconds since the epoch of an HTTP-date, or None when ``field`` is not one."""
    text = field.decode("latin-1").strip()
    if "," in text.split(" ", 1)[-1]:
        return None  # a list: more than one member
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        when = None
        for layout in _OBSOLETE_DATES:
            try:
                when = datetime.strptime(text, layout).replace(tzinfo=UTC)
                break
            except ValueError:
                continue
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def not_modified(headers: list[tuple[bytes, bytes]], etag: bytes, modified_at: int) -> bool:
    """True when a GET/HEAD with these request ``headers`` is answered 304 (RFC 9110 §13.2.2 steps 3-4)."""
    if_none_match: bytes | None = None
    if_modified_since: bytes | None = None
    for name, value in headers:
        if name == b"if-none-match":
            if_none_match = value if if_none_match is None else if_none_match + b"," + value
        elif name == b"if-modified-since":
            if_modified_since = b"," if if_modified_since is not None else value  # two fields: ignore
    if if_none_match is not None:
        return none_match(if_none_match, etag)
    if if_modified_since is not None:
        since = http_date(if_modified_since)
        return since is not None and modified_at <= since
    return False


def has_preconditions(headers: list[tuple[bytes, bytes]]) -> bool:
    """A cheap test that lets the hot path skip ``not_modified`` for unconditional requests."""
    return any(name[:3] == b"if-" for name, _ in headers)
