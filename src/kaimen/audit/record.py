"""What one audit record holds, and how it is taken from a finished call.

Only these fields, never a header, key, token or query string (a token-authenticated call records the
id of the consent its token carries, never the token). Everything a client can choose is
either validated upstream (the interaction id is a UUID or generated) or replaced by a fixed value
here: the method by a known verb or ``OTHER``, the path by a route template or ``unmatched``. Every
string is also cut to its column width, so no single call can make a whole batch fail to insert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from kaimen.gateway.context import Call

UNMATCHED_ROUTE = "unmatched"
NO_API = "none"
OTHER_METHOD = "OTHER"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Column widths of kaimen.store.models.AuditRecord.
_API_WIDTH = 64
_ROUTE_WIDTH = 200
_ID_WIDTH = 64
_IP_WIDTH = 64
_CONSENT_WIDTH = 128


class AuditFields(NamedTuple):
    """The hashed content of a record, in canonical order (kaimen.audit.chain); ``seq`` and the
    digests are added when the record joins the chain."""

    at: datetime
    interaction_id: str
    application_id: str | None
    api: str
    method: str
    route: str
    status: int
    latency_us: int
    client_ip: str
    # The consent the call's access token carries (kaimen.gateway.dpop_auth), for the customer's
    # dashboard ("last used"); None for every other call. Last, and hashed only when present, so records
    # written before it existed keep their digests (kaimen.audit.chain).
    consent_id: str | None = None


def fields_of(call: Call, ended_ns: int, wall_offset_ns: int) -> AuditFields:
    """The record of ``call``, which ended at ``ended_ns`` (``time.perf_counter_ns``). Runs at flush
    time, off the request path; ``wall_offset_ns`` is ``time.time_ns() - time.perf_counter_ns()`` read
    then, which turns the call's monotonic start into UTC without a second clock read per call."""
    latency_ns = max(ended_ns - call.started_ns, 0)
    # Integer microseconds: a float timestamp would round differently from what the database keeps.
    started_us = (call.started_ns + wall_offset_ns) // 1000
    api = call.api
    route = call.route or (api.path if api is not None else UNMATCHED_ROUTE)
    consent_id = getattr(call.token, "consent_id", None)
    # Positional, in the order of AuditFields (keywords cost a third of this function per record).
    return AuditFields(
        _EPOCH + timedelta(microseconds=started_us),
        call.interaction_id[:_ID_WIDTH],
        call.caller.application_id if call.caller is not None else None,
        api.name[:_API_WIDTH] if api is not None else NO_API,
        call.method if call.method in _METHODS else OTHER_METHOD,
        route[:_ROUTE_WIDTH],
        call.status,
        latency_ns // 1000,
        call.client_ip[:_IP_WIDTH],
        consent_id[:_CONSENT_WIDTH] if isinstance(consent_id, str) else None,
    )
