"""Two real ``kaimen serve`` instances sharing one PostgreSQL database and one Redis (issue 6, item 2).

What :func:`two_instances` sets up, once per test module:

- a scratch PostgreSQL database on the test server (``KAIMEN_TEST_DATABASE_URL``), migrated with
  ``kaimen db upgrade`` and dropped afterwards;
- Redis database ``REDIS_DB`` of the test Redis (``KAIMEN_TEST_REDIS_URL``), which no other test uses;
  Kaimen's rate-limit and replay-cache keys have fixed prefixes, so a database of their own keeps them
  apart from the rest of the suite. Rate-limit keys of this run's application are deleted afterwards;
  replay-cache keys expire by themselves within minutes;
- a TPP (approved PARTNER application with an API key and an OAuth client with a PS256 key) and
  customers with sandbox ledger accounts, written with Kaimen's own services straight into the shared
  database before the servers start (the same building blocks the in-process tests use);
- two ``kaimen serve --workers 1`` processes on two free ports, A started and ready before B (the first
  start creates the signing keys), both waiting on ``/readyz``.

Both run in **production mode**, as a bank deploys them behind a TLS-terminating edge: the public base
URL is ``https://bank.test`` (the edge's name, never connected to), so the issuer, every client
assertion's ``aud`` and every DPoP proof's ``htu`` are the same whichever instance a request reaches;
the test talks plain HTTP to each instance's loopback port, as the edge would. Production mode marks
the login cookie ``Secure`` (the issuer is https), which an HTTP client rightly never sends over plain
HTTP, so :class:`Browser` carries that cookie itself, as the edge's browser would over TLS.

Skipped, saying why, unless ``KAIMEN_TEST_DATABASE_URL`` and ``KAIMEN_TEST_REDIS_URL`` are set.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import httpx
import orjson
import pyotp
import pytest
import redis
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from kaimen.settings import Settings
from tests.demo_flow_support import b64url, claims_for, dpop_proof
from tests.support import (
    REPO,
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    create_postgres_database,
    drop_postgres_database,
)

PUBLIC = "https://bank.test"
REDIS_DB = 9
KAIMEN = str(Path(sys.executable).parent / "kaimen")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REDIRECT_URI = "https://tpp.example/cb"
AISP = "/open-banking/v3.1/aisp"
PCA = "/open-banking/v2.4/personal-current-accounts"
TOKEN = "/oauth2/token"
PASSWORD = "correct horse battery staple"
PERMISSIONS = ["ReadAccountsBasic", "ReadBalances"]
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_ACCOUNT = re.compile(r'name="account_id" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scratch_redis_url(base: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", "", ""))


@dataclass
class Instance:
    """One ``kaimen serve`` process; ``url`` turns a path, or a URL under the public base, into this
    instance's address (what the edge does when it forwards a request here)."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, target: str) -> str:
        if target.startswith(PUBLIC):
            return self.base + target[len(PUBLIC) :]
        return urljoin(self.base + "/", target)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@dataclass
class Pkce:
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return b64url(hashlib.sha256(self.verifier.encode()).digest())


@dataclass
class Tpp:
    client_id: str
    application_id: str
    key: RSAKey
    api_key: str

    def assertion(self) -> dict[str, str]:
        """A private_key_jwt client assertion (RFC 7523 §3) for the issuer, with a fresh ``jti``."""
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": PUBLIC, "iat": now, "exp": now + 60}
        claims["jti"] = uuid.uuid4().hex
        token = jwt.encode({"alg": "PS256", "kid": self.key.kid}, claims, self.key, algorithms=["PS256"])
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token}

    def token(
        self,
        at: Instance,
        form: dict[str, str],
        key: ECKey,
        *,
        assertion: dict[str, str] | None = None,
        proof: str | None = None,
    ) -> httpx.Response:
        headers = {"DPoP": proof or dpop_proof(key, "POST", PUBLIC + TOKEN)}
        data = {**(assertion or self.assertion()), **form}
        return httpx.post(at.url(TOKEN), data=data, headers=headers, timeout=10)

    def own_token(self, at: Instance, key: ECKey, scope: str = "accounts") -> str:
        """The TPP's own client_credentials token (of ``scope``), DPoP-bound to ``key``."""
        response = self.token(at, {"grant_type": "client_credentials", "scope": scope}, key)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def call(
        self, at: Instance, key: ECKey, method: str, path: str, token: str, body: Any = None
    ) -> httpx.Response:
        """A UK OB API call with the DPoP-bound ``token`` and a fresh proof for the public URL."""
        headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, method, PUBLIC + path, token)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        content = orjson.dumps(body) if body is not None else None
        return httpx.request(method, at.url(path), content=content, headers=headers, timeout=10)

    def create_consent(self, at: Instance, key: ECKey) -> str:
        token = self.own_token(at, key)
        body = {"Data": {"Permissions": PERMISSIONS}, "Risk": {}}
        response = self.call(at, key, "POST", AISP + "/account-access-consents", token, body)
        assert response.status_code == 201, response.text
        consent_id: str = response.json()["Data"]["ConsentId"]
        return consent_id

    def push(
        self, at: Instance, key: ECKey, consent_id: str, pkce: Pkce, scope: str = "openid accounts"
    ) -> str:
        """PAR (RFC 9126) for ``consent_id``, the code bound to ``key`` by a DPoP proof; the request_uri."""
        form = {
            **self.assertion(),
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "claims": claims_for(consent_id),
        }
        headers = {"DPoP": dpop_proof(key, "POST", PUBLIC + "/oauth2/par")}
        response = httpx.post(at.url("/oauth2/par"), data=form, headers=headers, timeout=10)
        assert response.status_code == 201, response.text
        request_uri: str = response.json()["request_uri"]
        return request_uri

    def authorize_url(self, at: Instance, request_uri: str) -> str:
        return at.url(
            "/oauth2/authorize?" + urlencode({"client_id": self.client_id, "request_uri": request_uri})
        )

    def redeem(self, at: Instance, code: str, pkce: Pkce, key: ECKey) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": pkce.verifier,
        }
        return self.token(at, form, key)


@dataclass
class Customer:
    username: str
    totp: pyotp.TOTP


class Browser:
    """The customer's browser on one instance: follows the pages as plain form posts (DESIGN.md
    sandbox contract) and carries the login cookie itself (see the module docstring)."""

    def __init__(self, at: Instance) -> None:
        self.at = at
        self.http = httpx.Client(timeout=10)
        self.cookies: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, url: str, data: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        response = self.http.request(method, self.at.url(url), data=data, headers=headers)
        for header in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value.strip('"'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def form(self, url: str) -> tuple[str, dict[str, str]]:
        page = self._send("GET", url)
        assert page.status_code == 200, page.text
        hidden = dict(_HIDDEN.findall(page.text))
        assert hidden.get("csrf"), page.text
        return page.text, hidden

    def submit(self, url: str, **fields: Any) -> str:
        """GET the form, post it back with its hidden fields and ``fields``; 303: where it points."""
        _, hidden = self.form(url)
        answer = self._send("POST", url, {**hidden, **fields})
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]

    def log_in(self, tpp: Tpp, request_uri: str, customer: Customer) -> str:
        """Authorize, password, one-time code: the URL of the consent page."""
        start = self._send("GET", tpp.authorize_url(self.at, request_uri))
        assert start.status_code == 303, start.text
        otp_url = self.submit(start.headers["location"], username=customer.username, password=PASSWORD)
        return self.submit(otp_url, otp=customer.totp.now())

    def consent_form(self, consent_url: str) -> dict[str, str]:
        """The consent page's answer, ready to post: its hidden fields, the first account ticked,
        ``decision=approve``."""
        page, hidden = self.form(consent_url)
        accounts = _ACCOUNT.findall(page)
        assert accounts, page
        return {**hidden, "decision": "approve", "account_id": accounts[0]}

    def post(self, url: str, form: dict[str, str]) -> httpx.Response:
        return self._send("POST", url, form)

    def approve(self, consent_url: str) -> httpx.Response:
        """Approve with the first account; the raw answer (303 to the client on success)."""
        return self.post(consent_url, self.consent_form(consent_url))


def code_of(answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    query = dict(httpx.URL(location).params)
    assert query["iss"] == PUBLIC and "error" not in query, query
    return query["code"]


@dataclass
class Cluster:
    a: Instance
    b: Instance
    tpp: Tpp
    customers: list[Customer]
    rate_limit: int
    redis_url: str

    def customer(self) -> Customer:
        """A customer who has not logged in yet (each time step's code is accepted once per customer)."""
        return self.customers.pop()

    def authorized(self, at: Instance, key: ECKey) -> tuple[str, dict[str, Any]]:
        """A whole authorization on ``at``: consent, PAR, the customer's pages, the code redeemed on
        ``at``. Returns the ConsentId and the token response."""
        consent_id = self.tpp.create_consent(at, key)
        pkce = Pkce()
        request_uri = self.tpp.push(at, key, consent_id, pkce)
        browser = Browser(at)
        try:
            code = code_of(browser.approve(browser.log_in(self.tpp, request_uri, self.customer())))
        finally:
            browser.close()
        response = self.tpp.redeem(at, code, pkce, key)
        assert response.status_code == 200, response.text
        return consent_id, response.json()


def directory_jwks() -> str:
    """Production mode needs the directory's public keys; these belong to a directory nobody runs."""
    key = RSAKey.generate_key(2048, parameters={"kid": "test-directory", "alg": "PS256"}, private=True)
    return json.dumps({"keys": [key.as_dict(private=False)]})


def server_env(database_url: str, redis_url: str, apis: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIMEN_")}
    return env | {
        "KAIMEN_MODE": "production",
        "KAIMEN_DATABASE_URL": database_url,
        "KAIMEN_REDIS_URL": redis_url,
        "KAIMEN_PUBLIC_BASE_URL": PUBLIC,
        "KAIMEN_SECRET_KEY": secrets.token_urlsafe(32),  # every instance of a deployment shares it
        "KAIMEN_DIRECTORY_JWKS": directory_jwks(),
        "KAIMEN_DIRECTORY_ISSUER": "test-directory",
        "KAIMEN_JWS_TAN": "openbanking.test",
        "KAIMEN_JWS_ISS": "test-bank-org",
        "KAIMEN_APIS": json.dumps(apis),
        "KAIMEN_WORKERS": "1",
        "KAIMEN_LOG_LEVEL": "WARNING",
    }


def settings_of(env: dict[str, str], data_dir: Path) -> Settings:
    """The settings the servers read from ``env``, for writing to their stores in-process
    (``KAIMEN_RISK__HOLD_SCORE`` is ``risk.hold_score``)."""
    from kaimen.settings import load_settings

    fields: dict[str, Any] = {}
    for name, value in env.items():
        if name.startswith("KAIMEN_"):
            *parents, leaf = name.removeprefix("KAIMEN_").lower().split("__")
            into = fields
            for parent in parents:
                into = into.setdefault(parent, {})
            into[leaf] = value
    return load_settings(**{**fields, "apis": json.loads(fields["apis"]), "data_dir": data_dir})


async def seed(env: dict[str, str], data_dir: Path, customers: int) -> tuple[Tpp, list[Customer]]:
    """The TPP and the customers, with the same services the in-process tests use."""
    from kaimen.authz.clients import ClientRegistry
    from kaimen.authz.sealing import sealer_for
    from kaimen.identity.customers import Customers
    from kaimen.ledger.history import seed_history
    from kaimen.store.db import Database
    from kaimen.tiers import Tier
    from kaimen.tpp.registry import Registry, ReviewStatus

    settings = settings_of(env, data_dir)
    db = Database(settings.sqlalchemy_url)
    people = Customers(db, sealer_for(settings), settings)
    try:
        registry = Registry(db)
        application = await registry.register(
            organisation="Multiprocess Ltd",
            application="Both Ways",
            tier=Tier.PARTNER,
            status=ReviewStatus.APPROVED,
        )
        issued = await registry.create_key(application.id, label="multiprocess")
        key = RSAKey.generate_key(
            2048, parameters={"kid": "mp-sig", "alg": "PS256", "use": "sig"}, private=True
        )
        metadata = {
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "jwks": {"keys": [key.as_dict(private=False)]},
            "client_name": "Both Ways",
        }
        client = await ClientRegistry(db, settings).create_for_application(application.id, metadata)
        made, ids = [], []
        for n in range(customers):
            username = f"mp{n}{secrets.token_hex(3)}"
            customer_id, secret = await people.create(username, PASSWORD, f"Customer {n}")
            made.append(Customer(username, pyotp.TOTP(secret)))
            ids.append(customer_id)
        await seed_history(db, ids, seed=11, days=1)
        return Tpp(client.client_id, application.id, key, issued.api_key), made
    finally:
        await people.close()
        await db.dispose()


def start_instance(name: str, env: dict[str, str], data_dir: Path, *, workers: int = 1) -> Instance:
    """``kaimen serve --workers N`` on a free port, ready (``/readyz`` answers 200) when it returns."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [KAIMEN, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            cwd=REPO,
            env={**env, "KAIMEN_DATA_DIR": str(data_dir)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: granian's workers are stopped with it
        )
    instance = Instance(name, port, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"instance {name} exited with {process.returncode}:\n{instance.output()}")
        try:
            if httpx.get(instance.url("/readyz"), timeout=2).status_code == 200:
                return instance
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_instance(instance)
    raise RuntimeError(f"instance {name} not ready within 60 s:\n{instance.output()}")


def stop_instance(instance: Instance) -> None:
    stop_process(instance.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started in its own process group: SIGINT (granian stops its workers and their
    lifespans flush), SIGKILL to the group after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _forget_rate_limits(redis_url: str, application_id: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        mine = [key for key in client.scan_iter(match="kaimen:ratelimit*") if application_id.encode() in key]
        if mine:
            client.delete(*mine)
    finally:
        client.close()


@contextmanager
def two_instances(
    tmp: Path, *, rate_limit: int, customers: int, extra_env: dict[str, str] | None = None
) -> Iterator[Cluster]:
    """A and B, sharing PostgreSQL and Redis. The Product API's PCA allows ``rate_limit`` calls per
    application in a window no other run uses. ``extra_env`` adds or overrides KAIMEN_* settings of
    the two servers (tests/test_nginx.py: the trusted proxy, the access log)."""
    if not TEST_DATABASE_URL or not TEST_REDIS_URL:
        pytest.skip(
            "multi-process tests need PostgreSQL and Redis: "
            "set KAIMEN_TEST_DATABASE_URL and KAIMEN_TEST_REDIS_URL"
        )
    rate = f"{rate_limit}/{secrets.randbelow(9000) + 1000} seconds"
    apis = {"opendata.pca": {"tier": "ACQUAINTANCE", "default_app_rate": rate}}
    database_url = asyncio.run(create_postgres_database(TEST_DATABASE_URL))
    redis_url = scratch_redis_url(TEST_REDIS_URL)
    env = server_env(database_url, redis_url, apis)
    served = env | (extra_env or {})
    instances: list[Instance] = []
    tpp: Tpp | None = None
    try:
        subprocess.run(
            [KAIMEN, "db", "upgrade"],
            cwd=REPO,
            env={**env, "KAIMEN_DATA_DIR": str(tmp)},
            check=True,
            capture_output=True,
        )
        tpp, people = asyncio.run(seed(env, tmp, customers))
        instances.append(start_instance("A", served, tmp / "a"))
        instances.append(start_instance("B", served, tmp / "b"))
        yield Cluster(instances[0], instances[1], tpp, people, rate_limit, redis_url)
    finally:
        for instance in instances:
            stop_instance(instance)
        if tpp is not None:
            _forget_rate_limits(redis_url, tpp.application_id)
        asyncio.run(drop_postgres_database(TEST_DATABASE_URL, database_url))
