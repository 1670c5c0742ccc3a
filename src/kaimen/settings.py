"""The one typed settings object of Kaimen.

Read once at start-up from the environment (prefix ``KAIMEN_``, nested fields with ``__``), validated
loudly; nothing else in Kaimen reads ``os.environ``. Components receive the parts they need.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    PlainValidator,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from kaimen.risk.config import RiskSettings
from kaimen.tiers import Tier
from kaimen.tls import tls_problems


class Mode(StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"


class RedisDownPolicy(StrEnum):
    """What the gateway does when the rate-limit store (Redis) cannot be reached."""

    REFUSE = "refuse"  # 503 for every API above PUBLIC; PUBLIC APIs are still served
    REFUSE_ALL = "refuse-all"  # 503 for every API
    ALLOW = "allow"  # serve without rate limiting (logged and counted)


_RATE_PATTERN = r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$"


def _rate(value: object, *, unlimited: str = "") -> str:
    """A rate such as "600/minute" or "4 per day" that allows at least one call: "0/minute" would
    answer every call 429. ``unlimited`` says how to ask for no limit, where there is a way."""
    rate = re.fullmatch(_RATE_PATTERN, value) if isinstance(value, str) else None
    if rate is None:
        raise ValueError(f"must be a rate such as '4/day' or '600/minute'{unlimited and ', or ' + unlimited}")
    if int(rate.string[: rate.start(1)]) == 0:  # the amount, before "/" or "per"
        raise ValueError(
            f"must allow at least 1 call{unlimited and '; ' + unlimited.replace(' for ', ' means ')}"
        )
    return rate.string


RateString = Annotated[str, PlainValidator(_rate)]


def _network(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    # One error per wrong entry, in ipaddress's own words ("10.0.0.1/8 has host bits set"), instead
    # of one per member of an IPv4/IPv6 union.
    if not isinstance(value, str | ipaddress.IPv4Network | ipaddress.IPv6Network):
        raise ValueError("must be a network such as 10.0.0.0/8 or ::1/128")
    try:
        return ipaddress.ip_network(value)
    except ValueError as exc:
        raise ValueError(f"{exc} (a network such as 10.0.0.0/8 or ::1/128)") from None


Network = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, PlainValidator(_network)]
# The software-statement issuer of the directory Kaimen is in embedded mode (kaimen.authz.directory).
SANDBOX_DIRECTORY_ISSUER = "kaimen-sandbox-directory"
# The sandbox's message-signing identities (kaimen.jws); production mode refuses them.
SANDBOX_JWS_TAN = "openbanking.kaimen.example"
SANDBOX_JWS_ISS = "kaimen-sandbox-bank"
# The UK OB APIs (KAIMEN_APIS names) and the scope each one's spec file asks for (security
# TPPOAuth2Security): a policy that would let a call through without a DPoP-bound token holding that
# scope is refused at start-up, here, for the parent process and every worker alike.
OB_APIS = {
    "aisp": ("the Account API", "accounts"),
    "cbpii": ("the Confirmation of Funds API", "fundsconfirmations"),
    "pisp": ("the Payment Initiation API", "payments"),
}
# What KAIMEN_DATABASE_URL may name: SQLite and PostgreSQL, with the drivers Kaimen runs them on.
_DATABASE_DRIVERS = frozenset({"sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg"})


class ApiPolicy(BaseModel):
    """Access and rate-limit policy of one API, as the operator configures it."""

    model_config = {"extra": "forbid"}

    tier: Tier
    # Requests per application, per tier the calling application was admitted to. A tier missing here
    # falls back to ``default_app_rate``.
    app_rate: dict[Tier, RateString] = Field(default_factory=dict)
    default_app_rate: RateString = "600/minute"
    # Requests per client IP (anonymous callers of a PUBLIC API, and every caller as a second limit).
    ip_rate: RateString = "1200/minute"
    # How callers identify themselves: an API key (Product API), or a DPoP-bound access token whose
    # scope must hold every one of ``scopes`` (Account, Payment, Funds APIs; kaimen.gateway.dpop_auth).
    auth: Literal["api_key", "dpop"] = "api_key"
    scopes: list[str] = Field(default_factory=list)
    # UK OB APIs only (kaimen.gateway.customer_headers; kaimen.gateway.ratelimit says why these keys).
    # A call with x-fapi-customer-ip-address is customer-present, counted per TPP client; one without
    # is unattended, counted per TPP client and consent (token grant when there is no consent). PSD2
    # RTS Art. 36(5)(b) caps unattended AIS access at four times a day: "4/day". None: no such limit.
    customer_present_rate: str | None = None
    unattended_rate: str | None = None

    @field_validator("customer_present_rate", "unattended_rate", mode="before")
    @classmethod
    def _presence_rate(cls, value: object) -> object:
        return None if value is None else _rate(value, unlimited="null for no limit")

    def rate_for(self, tier: Tier | str | None) -> str:
        """``tier`` may be the tier's value as stored (a Tier is a str with the same hash)."""
        if tier is None:
            return self.ip_rate
        rate: str = self.app_rate.get(tier, self.default_app_rate)  # type: ignore[call-overload]
        return rate


def _default_apis() -> dict[str, ApiPolicy]:
    # The demo shows every refusal: PCA is open to ACQUAINTANCE applications, BCA needs a PARTNER,
    # ATMs and branches are PUBLIC.
    return {
        "opendata.pca": ApiPolicy(tier=Tier.ACQUAINTANCE),
        "opendata.bca": ApiPolicy(tier=Tier.PARTNER),
        "opendata.atm": ApiPolicy(tier=Tier.PUBLIC),
        "opendata.branch": ApiPolicy(tier=Tier.PUBLIC),
        # The authorization server and its pages: anyone may reach them (clients authenticate with
        # private_key_jwt, customers log in), limited per client IP.
        "oauth": ApiPolicy(tier=Tier.PUBLIC, ip_rate="600/minute"),
        "login": ApiPolicy(tier=Tier.PUBLIC, ip_rate="300/minute"),
        # The Account API (UK OB v3.1.11 AISP): TPPs admitted after review (ACQUAINTANCE and more
        # closed), each call with a DPoP-bound token whose scope holds accounts.
        # Sandbox rates: a TPP's customer-present calls get its whole budget; unattended polling of
        # one consent gets 120 a minute, not the RTS's 4 a day, so the demo's tools are not stopped.
        "aisp": ApiPolicy(
            tier=Tier.ACQUAINTANCE,
            auth="dpop",
            scopes=["accounts"],
            customer_present_rate="600/minute",
            unattended_rate="120/minute",
        ),
        # The Confirmation of Funds API (UK OB v3.1.11 CBPII): as the Account API, scope fundsconfirmations.
        "cbpii": ApiPolicy(tier=Tier.ACQUAINTANCE, auth="dpop", scopes=["fundsconfirmations"]),
        # The Payment Initiation API (UK OB v3.1.11 PISP): as the Account API, scope payments.
        "pisp": ApiPolicy(tier=Tier.ACQUAINTANCE, auth="dpop", scopes=["payments"]),
    }


class RequestLimits(BaseModel):
    model_config = {"extra": "forbid"}

    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    max_header_bytes: int = Field(default=16 << 10, ge=1024)
    max_header_count: int = Field(default=64, ge=8)
    max_json_depth: int = Field(default=32, ge=2)
    # The whole body must arrive within this long: a client trickling its body would otherwise hold
    # one of the worker's request slots (max_concurrent_requests) for as long as it pleased.
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=300)


class AuditSettings(BaseModel):
    model_config = {"extra": "forbid"}

    batch_size: int = Field(default=500, ge=1)
    flush_interval_seconds: float = Field(default=0.2, gt=0)
    queue_limit: int = Field(default=100_000, ge=100)


class OAuthSettings(BaseModel):
    """The authorization server's lifetimes and switches (FAPI 2.0 Security Profile, RFC 9700)."""

    model_config = {"extra": "forbid"}

    # FAPI 2.0 §5.3.2.1: "shall only issue authorization codes with a lifetime of no more than 60 seconds"
    code_ttl_seconds: int = Field(default=60, ge=1, le=60)
    # RFC 9126 §2.2: short-lived; FAPI 2.0 §5.3.2.2 asks for < 600 s
    par_ttl_seconds: int = Field(default=60, ge=5, le=599)
    access_token_ttl_seconds: int = Field(default=300, ge=30)
    refresh_token_ttl_seconds: int = Field(default=90 * 24 * 3600, ge=60)
    # Client assertions must be short-lived; a longer exp window is refused.
    client_assertion_max_lifetime_seconds: int = Field(default=300, ge=30)
    # RFC 9449 §11.1: how far a DPoP proof's iat may be from the server's clock.
    dpop_iat_window_seconds: int = Field(default=60, ge=5)
    # RFC 9449 §8: server-provided nonces, when the operator wants them.
    dpop_nonce_required: bool = False
    # Conformance testing only (README, "Running the OpenID Foundation conformance suite"): a PAR request
    # for `accounts` without the UK OB openbanking_intent_id claim gets a consent minted for it.
    conformance_mint_account_consent: bool = False
    login_session_ttl_seconds: int = Field(default=600, ge=60)
    # Credential stuffing: failures before a customer is locked, and the first lock length (doubles).
    max_login_failures: int = Field(default=5, ge=1)
    lock_seconds: int = Field(default=60, ge=1)
    ip_login_rate: RateString = "30/minute"
    # RFC 7591: a newly registered client is pending review unless the operator says otherwise.
    dcr_auto_approve: bool = False
    jwks_uri_timeout_seconds: float = Field(default=3.0, gt=0)
    jwks_uri_cache_seconds: int = Field(default=300, ge=0)


# KAIMEN_MAX_CONCURRENT_REQUESTS' default (Settings.max_concurrent_requests).
MAX_CONCURRENT_REQUESTS = 128


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAIMEN_", env_nested_delimiter="__", extra="forbid")

    mode: Mode = Mode.EMBEDDED
    data_dir: Path = Path(".kaimen-data")
    # sqlite+aiosqlite:///path or postgresql+asyncpg://...; plain postgresql:// is accepted too.
    database_url: str | None = None
    # PostgreSQL connections each worker keeps open, and as many again under bursts: below the
    # concurrency a worker serves, connections are opened and closed per request (bench-payments).
    database_pool_size: int = Field(default=10, ge=1, le=500)
    redis_url: str | None = None
    # The URL Kaimen publishes itself under; every URL it hands out starts with it.
    public_base_url: str = "http://localhost:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    # Requests one worker works on at once (granian's backpressure under `kaimen serve`; more wait
    # their turn on their connections). Each Redis client of a worker may open as many connections,
    # so no request ever fails for want of one.
    max_concurrent_requests: int = Field(default=MAX_CONCURRENT_REQUESTS, ge=1, le=10_000)
    # TLS served by Kaimen itself, for when no proxy terminates it in front (kaimen.tls checks the
    # files): the PEM certificate chain, leaf first, and its unencrypted PEM private key; both or neither.
    tls_certificate: Path | None = None
    tls_private_key: Path | None = None
    # Peers whose X-Forwarded-For is believed; anyone else's is ignored.
    trusted_proxies: list[Network] = Field(default_factory=list)
    # Who may read /metrics (operator networks).
    metrics_networks: list[Network] = Field(
        default_factory=lambda: [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    )
    apis: dict[str, ApiPolicy] = Field(default_factory=_default_apis)
    limits: RequestLimits = Field(default_factory=RequestLimits)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    redis_down: RedisDownPolicy = RedisDownPolicy.REFUSE
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # One JSON log line per call (the audit trail records every call either way). Off by default: it
    # costs more than any gateway step (bench/profile_gateway.py).
    access_log: bool = False
    oauth: OAuthSettings = Field(default_factory=OAuthSettings)
    # The risk engine's rules and thresholds (kaimen.risk.config documents each default).
    risk: RiskSettings = Field(default_factory=RiskSettings)
    # Key that encrypts private keys and TOTP seeds at rest: 32 bytes, base64url. In embedded mode a key
    # is created in the data dir when unset; production mode requires it.
    secret_key: SecretStr | None = None
    # The software-statement directory's public keys (a JWKS as JSON). In embedded mode Kaimen is its
    # own directory and keeps the directory key in the data dir when unset.
    directory_jwks: str | None = None
    # The directory's issuer identifier: the ``iss`` every software statement must carry (RFC 7591 §2.3).
    directory_issuer: str = SANDBOX_DIRECTORY_ISSUER
    # UK OB message signing (kaimen.jws): the trust anchor's DNS name, http://openbanking.org.uk/tan in
    # every signature the bank makes and accepts, and the bank's own http://openbanking.org.uk/iss.
    jws_tan: str = Field(default=SANDBOX_JWS_TAN, min_length=1)
    jws_iss: str = Field(default=SANDBOX_JWS_ISS, min_length=1)
    # Set by ``kaimen demo``: where the worker writes the sandbox credentials file once it is bound.
    demo_credentials_out: Path | None = None

    @field_validator("apis", mode="after")
    @classmethod
    def _merge_api_defaults(cls, value: dict[str, ApiPolicy]) -> dict[str, ApiPolicy]:
        # KAIMEN_APIS names only the APIs whose policy differs from the default. A name that is not
        # one of them is a typo: its policy would apply to nothing, silently.
        defaults = _default_apis()
        if unknown := sorted(set(value) - set(defaults)):
            names = ", ".join(map(repr, unknown))
            raise ValueError(f"no API is called {names}; the APIs are {', '.join(sorted(defaults))}")
        return {**defaults, **value}

    @field_validator("apis", mode="after")
    @classmethod
    def _ob_apis_need_their_token(cls, value: dict[str, ApiPolicy]) -> dict[str, ApiPolicy]:
        for name, (title, scope) in OB_APIS.items():
            policy = value[name]
            if policy.auth != "dpop" or scope not in policy.scopes:
                raise ValueError(
                    f'KAIMEN_APIS__{name.upper()}: {title} needs auth "dpop" and scope {scope!r}'
                )
        return value

    @field_validator("host")
    @classmethod
    def _bind_address(cls, value: str) -> str:
        # granian binds an IP address, never a name.
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError("must be an IP address to bind, such as 127.0.0.1, 0.0.0.0 or ::") from None
        return value

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_process_without_redis(self) -> Settings:
        # DESIGN.md, embedded default: rate-limit counters and the jti replay caches live in the one
        # process; a second worker would have its own, and limits and one-time use would not hold.
        if self.workers > 1 and not self.redis_url:
            raise ValueError(
                "KAIMEN_WORKERS above 1 needs KAIMEN_REDIS_URL: without Redis, rate limits and "
                "replay caches are kept in one process"
            )
        return self

    @model_validator(mode="after")
    def _tls_files(self) -> Settings:
        problems = tls_problems(self.tls_certificate, self.tls_private_key)
        # With a certificate Kaimen answers only https: an http public base URL would put an issuer,
        # and DPoP htu values, that no client reaches (RFC 8414 §2: the issuer is an https URL).
        if self.tls_certificate is not None and not self.public_base_url.startswith("https://"):
            problems.append("KAIMEN_PUBLIC_BASE_URL must be https when KAIMEN_TLS_CERTIFICATE is set")
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    @model_validator(mode="after")
    def _services_and_secrets(self) -> Settings:
        # In every mode, what would otherwise fail later, in a worker or a command, with a traceback:
        # the database and Redis URLs, the sealing key and the directory's keys. Production mode also
        # refuses SQLite, in-memory stores, default or missing secrets and the sandbox directory (issue
        # 6). Every wrong setting is named at once.
        production = self.mode is Mode.PRODUCTION
        problems = []
        if self.database_url is not None and (problem := _database_url_problem(self.database_url)):
            problems.append(problem)
        elif production and (not self.database_url or self.sqlalchemy_url.startswith("sqlite")):
            problems.append("KAIMEN_DATABASE_URL must name PostgreSQL in production mode")
        if self.redis_url is not None and (problem := _redis_url_problem(self.redis_url)):
            problems.append(problem)
        elif production and not self.redis_url:
            problems.append("KAIMEN_REDIS_URL is required in production mode")
        if self.secret_key is not None:
            problems += _secret_key_problems(self.secret_key.get_secret_value(), production=production)
        elif production:
            problems.append("KAIMEN_SECRET_KEY is required in production mode")
        if self.directory_jwks is not None:
            problems += _directory_problems(self.directory_jwks, self.data_dir if production else None)
        elif production:
            problems.append("KAIMEN_DIRECTORY_JWKS is required in production mode")
        if production:
            problems += self._production_problems()
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    def _production_problems(self) -> list[str]:
        problems = []
        if self.directory_issuer == SANDBOX_DIRECTORY_ISSUER:
            problems.append(
                f"KAIMEN_DIRECTORY_ISSUER is the sandbox directory's ({SANDBOX_DIRECTORY_ISSUER}); "
                "set the issuer of the directory that signs software statements"
            )
        if not self.public_base_url.startswith("https://"):
            problems.append("KAIMEN_PUBLIC_BASE_URL must be https in production mode (FAPI 2.0 §5.2.1)")
        # UK OB message signing (kaimen.jws): the sandbox's trust anchor would make every TPP signature
        # name a trust anchor no directory operates, and the bank's signatures the sandbox bank's iss.
        if self.jws_tan == SANDBOX_JWS_TAN:
            problems.append(
                f"KAIMEN_JWS_TAN is the sandbox's trust anchor ({SANDBOX_JWS_TAN}); set the DNS name of "
                "the trust anchor your TPPs' signing keys are registered with"
            )
        if self.jws_iss == SANDBOX_JWS_ISS:
            problems.append(
                f"KAIMEN_JWS_ISS is the sandbox bank's ({SANDBOX_JWS_ISS}); set the bank's own "
                "http://openbanking.org.uk/iss (its organisation id at the directory)"
            )
        if self.demo_credentials_out is not None:
            problems.append(
                "KAIMEN_DEMO_CREDENTIALS_OUT belongs to `kaimen demo`; unset it in production mode"
            )
        return problems

    @property
    def sqlalchemy_url(self) -> str:
        url = self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'kaimen.db').resolve()}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        if url.startswith("sqlite://"):
            url = "sqlite+aiosqlite://" + url.split("://", 1)[1]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")


# Members only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# 32 bytes in base64url: 43 characters, one optional padding character.
_SECRET_KEY = re.compile(r"^[A-Za-z0-9_-]{43}=?$")


def _secret_key_problems(value: str, *, production: bool) -> list[str]:
    """KAIMEN_SECRET_KEY seals private keys and TOTP seeds (kaimen.authz.sealing): AES-256, so 32
    random bytes, in every mode. Production mode also refuses a placeholder: "AAAA..." or a repeated
    pattern (32 random bytes take fewer than 16 distinct values with a probability below 10^-20) or an
    encoded phrase (all 32 bytes printable ASCII: below 10^-13). No message echoes the key."""
    if not _SECRET_KEY.match(value):
        return ["KAIMEN_SECRET_KEY must be 32 random bytes in base64url (secrets.token_urlsafe(32))"]
    key = base64.urlsafe_b64decode(value.rstrip("=") + "=")
    if production and (len(set(key)) < 16 or all(0x20 <= byte < 0x7F for byte in key)):
        return ["KAIMEN_SECRET_KEY is a placeholder, not 32 random bytes (secrets.token_urlsafe(32))"]
    return []


def _database_url_problem(url: str) -> str | None:
    """A URL Kaimen can open: SQLite or PostgreSQL. No message echoes the URL (it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    expected = "postgresql://user@host:5432/name or sqlite:///path"
    try:
        driver = make_url(url).drivername
    except (ArgumentError, ValueError):
        return f"KAIMEN_DATABASE_URL is not a database URL: expected {expected}"
    if driver not in _DATABASE_DRIVERS:
        return f"KAIMEN_DATABASE_URL names {driver!r}: Kaimen runs on PostgreSQL or SQLite ({expected})"
    return None


def _redis_url_problem(url: str) -> str | None:
    """A URL redis-py can connect to (redis.connection.parse_url is what the clients use). No message
    echoes the URL (it may hold a password)."""
    from redis.connection import parse_url

    try:
        parse_url(url)  # type: ignore[no-untyped-call]
    except ValueError:
        return "KAIMEN_REDIS_URL must be redis://[:password@]host[:port][/db], rediss://... or unix://path"
    return None


def _directory_problems(jwks: str, sandbox_data_dir: Path | None) -> list[str]:
    """The directory's public keys (RFC 7517 §5 JWK Set): at least one, none private (Kaimen only
    verifies statements), each a key Kaimen can import, and (``sandbox_data_dir`` given: production
    mode) not the sandbox directory key ``kaimen demo`` keeps in that data dir
    (kaimen.authz.directory): statements it signed would pass as the real directory's."""
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        keys = json.loads(jwks)["keys"]
        if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        return ['KAIMEN_DIRECTORY_JWKS must be a JWK Set: {"keys": [...]}']
    problems = []
    if not keys:
        problems.append("KAIMEN_DIRECTORY_JWKS holds no key")
    if any(_PRIVATE_JWK_MEMBERS & set(key) for key in keys):
        problems.append("KAIMEN_DIRECTORY_JWKS must hold the directory's public keys only")
    else:
        try:
            KeySet.import_key_set({"keys": keys})
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            problems.append(f"KAIMEN_DIRECTORY_JWKS holds a key that cannot be used: {exc}")
    sandbox_kid = _sandbox_directory_kid(sandbox_data_dir) if sandbox_data_dir is not None else None
    if sandbox_kid is not None and sandbox_kid in {key.get("kid") for key in keys}:
        problems.append(
            "KAIMEN_DIRECTORY_JWKS holds the sandbox directory key of KAIMEN_DATA_DIR; "
            "use the keys of the directory that signs software statements"
        )
    return problems


def _sandbox_directory_kid(data_dir: Path) -> str | None:
    try:
        kid = json.loads((data_dir / "directory.key").read_bytes()).get("kid")
    except (OSError, ValueError, AttributeError):
        return None
    return kid if isinstance(kid, str) else None


class SettingsError(Exception):
    """Settings failed validation; the message names each wrong setting."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SourceError as exc:
        # A JSON-valued variable (a list, a dict, a model) that is not JSON.
        found = re.search(r'field "(\w+)"', str(exc))
        where = f"KAIMEN_{found.group(1).upper()}" if found else "a KAIMEN_ variable"
        reason = f" ({exc.__cause__})" if exc.__cause__ else ""
        raise SettingsError(f"invalid configuration:\n  {where}: must be JSON{reason}") from None
    except ValidationError as exc:
        lines = "\n  ".join(_describe(error) for error in exc.errors())
        raise SettingsError("invalid configuration:\n  " + lines) from None


def _describe(error: ErrorDetails) -> str:
    """One line per wrong setting, naming its variable (the field's path, ``__``-joined)."""
    message = error["msg"]
    if error["type"] == "value_error":
        # The validator's own words, without pydantic's "Value error, " before them.
        message = str(error.get("ctx", {}).get("error", message))
    if message.startswith("KAIMEN_"):  # a rule across settings names its variables itself
        return message
    where = "__".join(str(part) for part in error["loc"]).upper()
    return f"KAIMEN_{where}: {message}" if where else message
