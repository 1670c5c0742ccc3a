"""The hash chain over audit records.

    digest(n) = SHA-256( "kaimen.audit.v1\\n" || prev_digest || field(seq) || field(at) || ...
                         || field(client_ip) )      (hex, lower case)

``prev_digest`` is the digest of record n-1 as 64 ASCII hex characters, or :data:`GENESIS` for the
first record. Each field is a 4-byte big-endian length and that many bytes of UTF-8, so no choice of
values can make two different records encode alike (no separator to smuggle in); NULL is the length
0xFFFFFFFF with no bytes, distinct from the empty string. Integers are written in decimal, ``at`` as
the integer number of microseconds since 1970-01-01T00:00:00Z (exactly what both databases keep, and
cheaper than formatting a date). ``seq`` is covered, so moving a record is detected too.

``consent_id`` (added after the first records were written) is the last field and is encoded only when
it is set: a record without one hashes exactly as before, so older chains still verify, and a record
with one cannot encode like one without (the field count is fixed up to it).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from kaimen.audit.record import AuditFields

GENESIS = "0" * 64
_DOMAIN = b"kaimen.audit.v1\n"
_NULL = b"\xff\xff\xff\xff"
_length = struct.Struct(">I").pack
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_sha256 = hashlib.sha256


def _encode(values: Iterable[str | int | None]) -> bytes:
    # Runs for every record at flush time in the serving process, hence the plain loop (one list
    # extend per field: measured faster than two appends or building bytes per field).
    parts: list[bytes] = []
    for value in values:
        if value is None:
            parts.append(_NULL)
        else:
            data = str(value).encode()
            parts += (_length(len(data)), data)
    return b"".join(parts)


def encode_body(fields: AuditFields) -> bytes:
    """The canonical bytes of everything but ``seq`` (computed before the chain lock is taken)."""
    # consent_id, the last field, is encoded only when set (see the module docstring).
    rest = fields[1:] if fields.consent_id is not None else fields[1:-1]
    return _encode(((fields.at - _EPOCH) // _MICROSECOND, *rest))


def link(prev_digest: str, seq: int, body: bytes) -> str:
    """The digest of record ``seq`` whose canonical body is ``body``."""
    number = str(seq).encode()  # _encode((seq,)), spelt out: this runs once per record
    return _sha256(b"".join((_DOMAIN, prev_digest.encode(), _length(len(number)), number, body))).hexdigest()
