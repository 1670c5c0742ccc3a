"""Prometheus metrics of what happens behind the API calls, each from its named event:

    kaimen_ratelimit_store_down_total{api,decision}     ratelimit.store.down: calls decided without the
                                                        rate-limit store (served or refused)
    kaimen_risk_decisions_total{stage,outcome}          risk.decided: consents and payments scored
    kaimen_risk_signals_total{stage,rule}               risk.decided: each rule that fired
    kaimen_payments_total{status,risk_outcome}          payment.accepted / pending / rejected
    kaimen_consent_changes_total{change}                consent.authorised / rejected / revoked /
                                                        deleted / consumed
    kaimen_tokens_issued_total{grant_type}              token.issued, token.refreshed
    kaimen_tokens_revoked_total{reason}                 token.revoked (each token counts)
    kaimen_authorizations_total{decision,scope}         authorization.approved / denied
    kaimen_login_failures_total{step,reason,pages}      login.failed (password), sca.failed (second
                                                        factor), at the authorization or dashboard pages

Every label value is one of a fixed set named here or in the module that emits the event; anything
else is counted as ``other``, so no payload can grow the series.
"""

from __future__ import annotations

from typing import Any, get_args

from prometheus_client import CollectorRegistry, Counter

from kaimen.authz.requests import CONSENT_SCOPES
from kaimen.consent.routes import REQUEST_ID as DASHBOARD_REQUEST_ID
from kaimen.events import (
    AUTHORIZATION_APPROVED,
    AUTHORIZATION_DENIED,
    CONSENT_AUTHORISED,
    CONSENT_CONSUMED,
    CONSENT_DELETED,
    CONSENT_REJECTED,
    CONSENT_REVOKED,
    LOGIN_FAILED,
    PAYMENT_ACCEPTED,
    PAYMENT_PENDING,
    PAYMENT_REJECTED,
    RATE_LIMIT_STORE_DOWN,
    RISK_DECIDED,
    SCA_FAILED,
    TOKEN_ISSUED,
    TOKEN_REFRESHED,
    TOKEN_REVOKED,
    EventBus,
)
from kaimen.identity.customers import Reason
from kaimen.risk.decision import Outcome, Stage
from kaimen.risk.rules import RULES

OTHER = "other"
_STAGES = frozenset(stage.value for stage in Stage)
_OUTCOMES = frozenset(outcome.value for outcome in Outcome)
_RULES = frozenset(rule.__name__ for rule in RULES)  # each rule's Signal is named after it
_GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials"})
_REVOCATIONS = frozenset({"client", "grant", "consent"})  # kaimen.authz.tokens.TokenService
_LOGIN_REASONS = frozenset(get_args(Reason))
_PAYMENTS = {PAYMENT_ACCEPTED: "accepted", PAYMENT_PENDING: "pending", PAYMENT_REJECTED: "rejected"}
_CONSENTS = {
    CONSENT_AUTHORISED: "authorised",
    CONSENT_REJECTED: "rejected",
    CONSENT_REVOKED: "revoked",
    CONSENT_DELETED: "deleted",
    CONSENT_CONSUMED: "consumed",
}
_AUTHORIZATIONS = {AUTHORIZATION_APPROVED: "approved", AUTHORIZATION_DENIED: "denied"}
_LOGIN_STEPS = {LOGIN_FAILED: "password", SCA_FAILED: "second_factor"}


def one_of(value: object, allowed: frozenset[str]) -> str:
    text = str(value)
    return text if text in allowed else OTHER


def consent_scope(scope: str) -> str:
    """The kind of consent a scope asks for (accounts, payments, fundsconfirmations), else none."""
    asked = [name for name in scope.split(" ") if name in CONSENT_SCOPES]
    return min(asked) if asked else "none"


class EventMetrics:
    def __init__(self, registry: CollectorRegistry, events: EventBus) -> None:
        def counter(name: str, documentation: str, labels: list[str]) -> Counter:
            return Counter(name, documentation, labels, registry=registry)

        self.store_down = counter(
            "kaimen_ratelimit_store_down",
            "Calls decided while the rate-limit store was unreachable.",
            ["api", "decision"],
        )
        self.risk = counter("kaimen_risk_decisions", "Risk engine decisions.", ["stage", "outcome"])
        self.signals = counter(
            "kaimen_risk_signals", "Risk rules that fired, one per rule per decision.", ["stage", "rule"]
        )
        self.payments = counter(
            "kaimen_payments", "Domestic payments reaching a status.", ["status", "risk_outcome"]
        )
        self.consents = counter("kaimen_consent_changes", "Consent status changes.", ["change"])
        self.issued = counter("kaimen_tokens_issued", "Access tokens issued.", ["grant_type"])
        self.revoked = counter("kaimen_tokens_revoked", "Tokens revoked.", ["reason"])
        self.authorizations = counter(
            "kaimen_authorizations", "Customers' decisions on authorization requests.", ["decision", "scope"]
        )
        self.login_failures = counter(
            "kaimen_login_failures", "Failed customer logins.", ["step", "reason", "pages"]
        )
        events.subscribe(RATE_LIMIT_STORE_DOWN, self._on_store_down)
        events.subscribe(RISK_DECIDED, self._on_risk)
        for name in _PAYMENTS:
            events.subscribe(name, self._on_payment)
        for name in _CONSENTS:
            events.subscribe(name, self._on_consent)
        for name in (TOKEN_ISSUED, TOKEN_REFRESHED):
            events.subscribe(name, self._on_token)
        events.subscribe(TOKEN_REVOKED, self._on_revoked)
        for name in _AUTHORIZATIONS:
            events.subscribe(name, self._on_authorization)
        for name in _LOGIN_STEPS:
            events.subscribe(name, self._on_login_failure)

    def _on_store_down(self, _: str, decision: Any) -> None:
        # decision.api is a name from the gateway's API table, never a path.
        self.store_down.labels(decision.api, "refused" if decision.refused else "served").inc()

    def _on_risk(self, _: str, decided: Any) -> None:
        decision = decided.decision
        stage = one_of(decision.stage, _STAGES)
        self.risk.labels(stage, one_of(decision.outcome, _OUTCOMES)).inc()
        for signal in decision.signals:
            self.signals.labels(stage, one_of(signal.rule, _RULES)).inc()

    def _on_payment(self, name: str, payment: Any) -> None:
        self.payments.labels(_PAYMENTS[name], one_of(payment.risk_outcome, _OUTCOMES)).inc()

    def _on_consent(self, name: str, _: Any) -> None:
        self.consents.labels(_CONSENTS[name]).inc()

    def _on_token(self, _: str, issued: Any) -> None:
        self.issued.labels(one_of(issued.grant_type, _GRANT_TYPES)).inc()

    def _on_revoked(self, _: str, revoked: Any) -> None:
        self.revoked.labels(one_of(revoked.reason, _REVOCATIONS)).inc(revoked.count)

    def _on_authorization(self, name: str, decision: Any) -> None:
        self.authorizations.labels(_AUTHORIZATIONS[name], consent_scope(decision.scope)).inc()

    def _on_login_failure(self, name: str, failure: Any) -> None:
        pages = "dashboard" if failure.request_id == DASHBOARD_REQUEST_ID else "authorization"
        self.login_failures.labels(_LOGIN_STEPS[name], one_of(failure.reason, _LOGIN_REASONS), pages).inc()
