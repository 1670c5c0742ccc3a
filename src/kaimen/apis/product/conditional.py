"""Conditional GET/HEAD (RFC 9110 §13), shared by the Product API handler and the response cache.

§13.1.1 and §13.1.4: "An origin server MUST NOT perform the requested method if a received If-Match
condition evaluates to false" / "if the selected representation's last modification date is more
recent than the date provided"; it answers 412 (Precondition Failed) instead. §13.2.2 gives the order
:func:`precondition_status` follows:

1. If-Match present: false means 412.
2. Otherwise If-Unmodified-Since present: false means 412.
3. If-None-Match present: false (it matches) means 304 for GET and HEAD.
4. Otherwise If-Modified-Since present (GET/HEAD): false (not modified since) means 304.

- §13.1.1 If-Match: ``*`` is true when there is a current representation (a Product API always has
  one, if only an empty document); a list of entity tags is true when one matches with the strong
  comparison (§8.8.3.2: both tags strong and their opaque-tags equal), so a ``W/`` tag never matches.
- §13.1.4 If-Unmodified-Since: "A recipient MUST ignore If-Unmodified-Since if the request contains an
  If-Match header field", and MUST ignore a value that is not a valid HTTP-date (a list included). True
  when Last-Modified is earlier than or equal to the date given.
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
_WEAK_OR_STRONG_TAG = re.compile(rb'(W/)?"([^"]*)"')
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


NOT_MODIFIED = 304
PRECONDITION_FAILED = 412
PROCEED = 200  # no precondition failed: answer as without them


def strong_match(field: bytes, etag: bytes) -> bool:
    """True when If-Match ``field`` matches the strong ``etag`` (strong comparison, §8.8.3.2)."""
    if field.strip() == b"*":
        return True
    if etag.startswith(b"W/"):
        return False
    opaque = etag.strip(b'"')
    return any(not weak and tag == opaque for weak, tag in _WEAK_OR_STRONG_TAG.findall(field))


def precondition_status(headers: list[tuple[bytes, bytes]], etag: bytes, modified_at: int) -> int:
    """How a GET/HEAD with these request ``headers`` is answered (RFC 9110 §13.2.2 steps 1-4):
    PRECONDITION_FAILED, NOT_MODIFIED or PROCEED. ``etag`` is the current strong entity tag."""
    if_match: bytes | None = None
    if_unmodified_since: bytes | None = None
    if_none_match: bytes | None = None
    if_modified_since: bytes | None = None
    for name, value in headers:
        if name == b"if-match":
            if_match = value if if_match is None else if_match + b"," + value
        elif name == b"if-unmodified-since":
            if_unmodified_since = b"," if if_unmodified_since is not None else value  # two fields: ignore
        elif name == b"if-none-match":
            if_none_match = value if if_none_match is None else if_none_match + b"," + value
        elif name == b"if-modified-since":
            if_modified_since = b"," if if_modified_since is not None else value  # two fields: ignore
    if if_match is not None:  # step 1
        if not strong_match(if_match, etag):
            return PRECONDITION_FAILED
    elif if_unmodified_since is not None:  # step 2; an invalid date is ignored
        since = http_date(if_unmodified_since)
        if since is not None and modified_at > since:
            return PRECONDITION_FAILED
    if if_none_match is not None:  # step 3
        return NOT_MODIFIED if none_match(if_none_match, etag) else PROCEED
    if if_modified_since is not None:  # step 4
        since = http_date(if_modified_since)
        return NOT_MODIFIED if since is not None and modified_at <= since else PROCEED
    return PROCEED


def has_preconditions(headers: list[tuple[bytes, bytes]]) -> bool:
    """A cheap test that lets the hot path skip ``precondition_status`` for unconditional requests."""
    return any(name[:3] == b"if-" for name, _ in headers)
