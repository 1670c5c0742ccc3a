"""RateLimit: per application and per client IP, with the ``limits`` library (issue 2, item 4).

- An identified caller is counted per *application* (never per key, so rotating keys does not reset
  the count) at ``policy.rate_for(tier)``, and per client IP at ``policy.ip_rate``; an anonymous caller
  (only a PUBLIC API lets one this far) is counted per client IP only. Counters are per API.
- On a UK OB API a call is also counted as customer-present or unattended (``call.customer_present``,
  set by kaimen.gateway.customer_headers), at the API's ``customer_present_rate`` or
  ``unattended_rate`` when set; :meth:`RateLimit._by_presence` says what each is keyed on and why.
- Calls outside every API (``/healthz``, ``/metrics``) are not limited.
- Past a limit: 429 (RFC 6585 §4) with ``Retry-After`` (RFC 9110 §10.2.3, seconds) and the
  ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` fields of
  draft-ietf-httpapi-ratelimit-headers-06 (Reset in delta seconds, not a timestamp), which also go on
  every answer of a limited API. With several limits the one closest to exhaustion is reported.
- The counters (kaimen.gateway.ratelimit_counters) live in process memory in embedded mode and in
  Redis when ``KAIMEN_REDIS_URL`` is set, so a limit holds across every worker. When Redis cannot be
  reached, ``KAIMEN_REDIS_DOWN`` decides (kaimen.settings.RedisDownPolicy); each such decision is
  logged and emitted as ``ratelimit.store.down`` (metrics count it).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from kaimen.errors import ServiceUnavailable, TooManyRequests
from kaimen.events import RATE_LIMIT_STORE_DOWN, EventBus
from kaimen.gateway.apis import Api
from kaimen.gateway.context import Call, Caller
from kaimen.gateway.ratelimit_counters import Limiter, StoreDown, Verdict
from kaimen.settings import RedisDownPolicy
from kaimen.tiers import Tier

log = logging.getLogger("kaimen.gateway.ratelimit")


@dataclass(frozen=True, slots=True)
class StoreDownDecision:
    """Payload of ``ratelimit.store.down``: one call decided without the store."""

    api: str
    refused: bool


def _closer(first: Verdict, second: Verdict) -> Verdict:
    """The verdict with the least remaining; the first on a tie (``min`` without its key function,
    which cost as much as a counter on the hot path)."""
    return second if second.remaining < first.remaining else first


class RateLimit:
    def __init__(
        self, app: Any, *, limiter: Limiter, on_store_down: RedisDownPolicy, events: EventBus
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.on_store_down = RedisDownPolicy(on_store_down)
        self.events = events

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        call: Call = scope["kaimen"]
        api = call.api
        if api is not None:
            try:
                verdict = await self._count(call, api)
            except StoreDown as down:
                self._decide_without_store(api, down)
            else:
                call.extra_headers.extend(verdict.fields())
                if not verdict.allowed:
                    raise TooManyRequests(headers={"Retry-After": str(verdict.reset)})
        await self.app(scope, receive, send)

    async def _count(self, call: Call, api: Api) -> Verdict:
        """Count the call against each of its limits in turn (one round trip on Redis); the first
        refusal wins, else the one with the least remaining."""
        policy = api.policy
        limits: list[tuple[str, str, str, str]] = []
        caller = call.caller
        if caller is not None:
            rate = policy.rate_for(caller.tier)  # no Tier(...) per call: same dict key
            limits.append((rate, "app", api.name, caller.application_id))
            if call.customer_present is not None:
                by_presence = self._by_presence(call, caller, api)
                if by_presence is not None:
                    limits.append(by_presence)
        limits.append((policy.ip_rate, "ip", api.name, call.client_ip))
        verdicts = await self.limiter.hit_all(limits)
        reported = verdicts[0]
        for verdict in verdicts[1:]:
            if not verdict.allowed:
                return verdict
            reported = _closer(reported, verdict)
        return reported

    def _by_presence(self, call: Call, caller: Caller, api: Api) -> tuple[str, str, str, str] | None:
        """The customer-present or the unattended limit of a UK OB call, when the API sets one.

        Customer-present calls are counted per TPP client. PSD2 RTS Art. 36(5)(a) lets an AISP read
        "whenever the payment service user is actively requesting such information", so a present
        PSU's reads are not rationed per account or consent; the limit bounds the interactive load
        one TPP client puts on the bank. The PSU's address is not a key: the TPP writes that header
        itself (a fresh value would be a fresh counter), and many PSUs share one address behind
        carrier-grade NAT.

        Unattended calls are counted per TPP client and consent. Art. 36(5)(b) allows access "no
        more than four times in a 24-hour period" when the PSU is not asking, per account; the
        consent is what names one PSU's accounts for one TPP, and the gateway knows it without
        reading the path (a bulk call reads every account of the consent). Every token issued
        under the consent, refreshed or re-authorised, counts against the same counter, so a new
        token does not reset it. A token without a consent (the TPP's client_credentials token)
        is counted per token grant. Each call counts once: "4/day" allows four calls, so an
        operator enforcing the RTS sets the rate to four times the calls one refresh makes.
        """
        policy = api.policy
        token = call.token
        client = token.client_id if token is not None else caller.application_id
        if call.customer_present:
            rate = policy.customer_present_rate
            if rate is None:
                return None
            return (rate, "present", api.name, client)
        rate = policy.unattended_rate
        if rate is None:
            return None
        if token is None:
            grant = "application"
        elif token.consent_id:
            grant = "consent:" + token.consent_id
        else:
            grant = "grant:" + token.grant_id
        return (rate, "unattended", api.name, f"{client}/{grant}")

    def _decide_without_store(self, api: Api, down: StoreDown) -> None:
        """RedisDownPolicy: REFUSE answers 503 above PUBLIC, REFUSE_ALL always, ALLOW never."""
        policy = self.on_store_down
        refused = policy is RedisDownPolicy.REFUSE_ALL or (
            policy is RedisDownPolicy.REFUSE and api.policy.tier is not Tier.PUBLIC
        )
        cause = down.__cause__
        log.warning(
            "rate-limit store unreachable",
            extra={
                "api": api.name,
                "decision": "refused" if refused else "served unlimited",
                # The type only: a driver's message can name hosts and keys.
                "error": type(cause).__name__ if cause is not None else "within the retry interval",
            },
        )
        self.events.emit(RATE_LIMIT_STORE_DOWN, StoreDownDecision(api.name, refused))
        if refused:
            raise ServiceUnavailable(headers={"Retry-After": str(math.ceil(self.limiter.retry_interval))})
