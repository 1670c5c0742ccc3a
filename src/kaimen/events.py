"""Named domain events. Audit, metrics and (later) risk subscribe; handlers never call them directly.

Subscribers run synchronously in the emitting task and must not block: anything slow (a database
write) is queued by the subscriber and done off the request path.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger("kaimen.events")

Handler = Callable[[str, Any], None]

# Event names used today; later components add theirs here so the list stays one place.
API_CALL_COMPLETED = "api.call.completed"
TPP_REGISTRY_CHANGED = "tpp.registry.changed"
PRODUCTS_REPLACED = "products.replaced"
RATE_LIMIT_STORE_DOWN = "ratelimit.store.down"
LOGIN_FAILED = "login.failed"  # wrong password, locked or throttled (kaimen.identity)
SCA_FAILED = "sca.failed"  # wrong one-time code or passkey at the second factor
# Authorization server (issue 3): the authorization flow and the token endpoint.
AUTHORIZATION_APPROVED = "authorization.approved"
AUTHORIZATION_DENIED = "authorization.denied"
TOKEN_ISSUED = "token.issued"  # noqa: S105 (an event name; kaimen.authz.grants emits it)
TOKEN_REFRESHED = "token.refreshed"  # noqa: S105 (an event name)
TOKEN_REVOKED = "token.revoked"  # noqa: S105 (an event name; kaimen.authz.tokens emits it)
# Clients (issue 3): dynamic registration and its management (kaimen.authz.register).
CLIENT_REGISTERED = "client.registered"
CLIENT_UPDATED = "client.updated"
CLIENT_DELETED = "client.deleted"
# Account-access consents (issue 4): each status change, and the TPP's DELETE (kaimen.apis.accounts).
CONSENT_AUTHORISED = "consent.authorised"
CONSENT_REJECTED = "consent.rejected"
CONSENT_REVOKED = "consent.revoked"
CONSENT_DELETED = "consent.deleted"
# Domestic payments (issue 5): the consent consumed, and the payment created with its status
# (kaimen.apis.payments.payments; payload kaimen.apis.payments.payment_record.Payment).
CONSENT_CONSUMED = "consent.consumed"
PAYMENT_ACCEPTED = "payment.accepted"
PAYMENT_PENDING = "payment.pending"
PAYMENT_REJECTED = "payment.rejected"
# Risk engine (issue 5, item 4): every decision, payload kaimen.risk.engine.RiskDecided.
RISK_DECIDED = "risk.decided"


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, name: str, handler: Handler) -> None:
        self._subscribers[name].append(handler)

    def emit(self, name: str, payload: Any) -> None:
        for handler in self._subscribers.get(name, ()):
            try:
                handler(name, payload)
            except Exception:
                # A broken subscriber must never break the request that emitted the event.
                log.exception("event subscriber failed", extra={"event": name})
