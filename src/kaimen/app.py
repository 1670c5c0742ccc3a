"""Builds Kaimen's ASGI application: the gateway in front of every API (DESIGN.md order)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from kaimen.apis.accounts.ais_resource import AisResource
from kaimen.apis.accounts.ais_routes import ais_routes
from kaimen.apis.accounts.consents import AccountAccessConsents
from kaimen.apis.accounts.intents import AccountIntents
from kaimen.apis.accounts.resource import ConsentResource
from kaimen.apis.accounts.routes import account_apis, account_routes
from kaimen.apis.funds.confirmations import FundsConfirmations
from kaimen.apis.funds.consents import FundsConfirmationConsents
from kaimen.apis.funds.intents import FundsIntents
from kaimen.apis.funds.resource import FundsResource
from kaimen.apis.funds.routes import funds_apis, funds_routes
from kaimen.apis.payments.consents import DomesticPaymentConsents
from kaimen.apis.payments.intents import PaymentIntents
from kaimen.apis.payments.payment_resource import DomesticPaymentsResource
from kaimen.apis.payments.payments import DomesticPayments
from kaimen.apis.payments.refund_account import RefundAccounts
from kaimen.apis.payments.resource import PaymentsResource
from kaimen.apis.payments.risk_check import NoRiskChecks, PaymentRisk
from kaimen.apis.payments.routes import API_NAME as PAYMENTS_API
from kaimen.apis.payments.routes import payment_apis, payment_routes
from kaimen.apis.product import product_apis, product_routes
from kaimen.apis.product.store import ProductStore
from kaimen.audit.writer import AuditWriter
from kaimen.authz.server import AuthorizationServer, authz_apis
from kaimen.consent.holdings import AccountAccess, FundsConfirmation
from kaimen.consent.routes import build_dashboard, dashboard_apis
from kaimen.errors import ApiError
from kaimen.events import EventBus
from kaimen.gateway.accesslog import subscribe_access_log
from kaimen.gateway.apis import ApiTable
from kaimen.gateway.boundary import ErrorBoundary, starlette_error_handler
from kaimen.gateway.cache import ResponseCache
from kaimen.gateway.clientip import ClientIpResolver
from kaimen.gateway.dpop_auth import DpopAuth
from kaimen.gateway.entry import Entry
from kaimen.gateway.identify import Identify
from kaimen.gateway.limits import RequestLimits
from kaimen.gateway.metrics import Metrics, metrics_route
from kaimen.gateway.policy import TierPolicy
from kaimen.gateway.ratelimit import RateLimit
from kaimen.gateway.ratelimit_counters import build_rate_limiter
from kaimen.gateway.routing import ExactPathRouter
from kaimen.health import health_routes
from kaimen.jws.responses import SignedResponses
from kaimen.jws.sign import ResponseSigner
from kaimen.jws.verify import RequestSignatures
from kaimen.ledger.core import CoreBanking
from kaimen.ledger.in_transaction import SandboxPostings
from kaimen.ledger.sandbox import sandbox_core_banking
from kaimen.risk.engine import RiskEngine, build_risk_engine
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.watch import build_watcher
from kaimen.tpp.directory import CallerDirectory


@dataclass
class Components:
    """Everything the application holds for its lifetime; tests reach in through ``app.state``."""

    settings: Settings
    db: Database
    events: EventBus
    apis: ApiTable
    products: ProductStore
    directory: CallerDirectory
    audit: AuditWriter
    metrics: Metrics
    watcher: Any
    limiter: Any
    authz: AuthorizationServer
    consents: AccountAccessConsents
    core_banking: CoreBanking
    funds_consents: FundsConfirmationConsents
    payment_consents: DomesticPaymentConsents
    payments: DomesticPayments
    payment_risk: PaymentRisk


def create_app(settings: Settings, *, payment_risk: PaymentRisk | None = None) -> Any:
    """``payment_risk``: what checks every domestic payment before it is posted
    (kaimen.apis.payments.risk_check); when None, the risk engine on the configured stores
    (kaimen.risk), or ``NoRiskChecks``, which allows every payment, when ``KAIMEN_RISK__ENABLED`` is
    false."""
    db = Database(settings.sqlalchemy_url, pool_size=settings.database_pool_size)
    events = EventBus()
    apis = ApiTable(
        product_apis(settings)
        + authz_apis(settings)
        + account_apis(settings)
        + funds_apis(settings)
        + payment_apis(settings)
        + dashboard_apis(settings)
    )
    watcher = build_watcher(settings, db)
    products = ProductStore(db, watcher)
    directory = CallerDirectory(db, watcher)
    audit = AuditWriter(db, settings.audit, events)
    metrics = Metrics(events, authz_apis={api.name for api in authz_apis(settings)})
    if settings.access_log:
        subscribe_access_log(events)
    limiter = build_rate_limiter(settings)
    consents = AccountAccessConsents(db, events)
    core_banking = sandbox_core_banking(db)
    funds_consents = FundsConfirmationConsents(db, events)
    payment_consents = DomesticPaymentConsents(db, events)
    payments = DomesticPayments(db, SandboxPostings(), events)
    if payment_risk is None:
        enabled = settings.risk.enabled
        payment_risk = build_risk_engine(settings, db, core_banking, events) if enabled else NoRiskChecks()
    authz = AuthorizationServer(
        settings,
        db,
        watcher,
        events,
        intents={
            "accounts": AccountIntents(consents),
            "fundsconfirmations": FundsIntents(funds_consents, core_banking),
            "payments": PaymentIntents(payment_consents, core_banking),
        },
        customer_accounts=core_banking,
    )
    components = Components(
        settings=settings,
        db=db,
        events=events,
        apis=apis,
        products=products,
        directory=directory,
        audit=audit,
        metrics=metrics,
        watcher=watcher,
        limiter=limiter,
        authz=authz,
        consents=consents,
        core_banking=core_banking,
        funds_consents=funds_consents,
        payment_consents=payment_consents,
        payments=payments,
        payment_risk=payment_risk,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await watcher.start()
        await products.load()
        await audit.start()
        await authz.start()
        # What start-up built lives as long as the process: freezing it keeps the collector's full
        # passes, which stop the event loop, to what requests allocate (they set the p99 latency).
        gc.freeze()
        try:
            yield
        finally:
            await authz.stop()
            await audit.stop()  # flushes every queued record: a clean stop loses none
            await watcher.stop()
            await limiter.close()
            if isinstance(payment_risk, RiskEngine):
                await payment_risk.close()
            await db.dispose()

    routes = [
        *product_routes(products),
        *account_routes(ConsentResource(consents, settings.public_base_url)),
        *ais_routes(AisResource(consents, core_banking, settings.public_base_url)),
        *funds_routes(
            FundsResource(funds_consents, FundsConfirmations(db, core_banking), settings.public_base_url)
        ),
        *payment_routes(
            PaymentsResource(
                payment_consents,
                RequestSignatures(authz.clients, settings.jws_tan),
                core_banking,
                payment_risk,
                settings.public_base_url,
            ),
            DomesticPaymentsResource(
                payment_consents,
                payments,
                RequestSignatures(authz.clients, settings.jws_tan),
                payment_risk,
                RefundAccounts(payment_consents, core_banking),
                settings.public_base_url,
            ),
        ),
        *authz.routes(),
        *build_dashboard(
            settings,
            db,
            events,
            authz,
            kinds=[AccountAccess(consents), FundsConfirmation(funds_consents)],
            core=core_banking,
        ).routes(),
        *health_routes(db, settings.redis_url),
        metrics_route(metrics, settings.metrics_networks),
    ]
    router = Starlette(
        lifespan=lifespan,
        exception_handlers={
            ApiError: starlette_error_handler,
            404: starlette_error_handler,
            405: starlette_error_handler,
            Exception: starlette_error_handler,
        },
    )
    # Never a redirect built from the Host header (Starlette redirects "/path/" to "/path" by default):
    # URLs come from the public base URL only (DESIGN.md); a trailing slash is simply not found.
    router.router = ExactPathRouter(routes, lifespan=lifespan, redirect_slashes=False)
    router.state.components = components

    # Innermost first; the request passes them in the reverse order (see kaimen.gateway).
    app: Any = router
    app = ResponseCache(app, products=products)
    app = RateLimit(app, limiter=limiter, on_store_down=settings.redis_down, events=events)
    app = TierPolicy(app)
    app = DpopAuth(app, tokens=authz.tokens, dpop=authz.dpop, clients=authz.clients)
    app = Identify(app, directory=directory)
    app = RequestLimits(app, limits=settings.limits)
    app = ErrorBoundary(app)
    app = SignedResponses(
        app,
        signer=ResponseSigner(authz.keys, iss=settings.jws_iss, tan=settings.jws_tan),
        apis=frozenset({PAYMENTS_API}),
    )
    app = Entry(app, apis=apis, client_ip=ClientIpResolver(settings.trusted_proxies), events=events)
    app.components = components
    app.router = router
    return app
