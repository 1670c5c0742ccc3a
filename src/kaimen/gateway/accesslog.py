"""One access-log line per call, from the ``api.call.completed`` event.

It holds what an operator needs to follow a call (method, API, route template, status, latency, client
IP, application id) and never the query string, headers, API keys or tokens: only fields of the Call
that the gateway itself derived are written.
"""

from __future__ import annotations

import logging
import time

from kaimen.events import API_CALL_COMPLETED, EventBus
from kaimen.gateway.context import Call

log = logging.getLogger("kaimen.access")


def _on_call(_: str, call: Call) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    log.info(
        "call",
        extra={
            "method": call.method,
            "api": call.api.name if call.api is not None else None,
            "route": call.route or None,
            "status": call.status,
            "latency_ms": round((time.perf_counter_ns() - call.started_ns) / 1e6, 3),
            "client_ip": call.client_ip,
            "application_id": call.caller.application_id if call.caller is not None else None,
            # UK OB APIs: whether the customer was present (x-fapi-customer-ip-address); None elsewhere.
            "customer_present": call.customer_present,
        },
    )


def subscribe_access_log(events: EventBus) -> None:
    events.subscribe(API_CALL_COMPLETED, _on_call)
