"""Issue 6, item 5: Kaimen deployed behind nginx, with the very configuration README.md shows
("Deploying two instances behind nginx"; tests.nginx_support says what is substituted and how nginx
runs). Skipped, saying so, without the ``nginx`` binary (Debian's package; .ci/run installs it).

Every client here connects from 127.0.0.2 (tests.nginx_support.CLIENT_ADDRESS), nginx from 127.0.0.1:
the address nginx appends to X-Forwarded-For is then the caller's, told apart from the proxy's own.

- In front of two small echo servers (no database needed): the headers nginx hands the upstream, the
  client certificate it forwards, the TLS versions and suites it offers, the /metrics refusal.
- In front of two production-mode ``kaimen serve`` instances on PostgreSQL and Redis
  (tests.multiprocess_support; skipped without KAIMEN_TEST_DATABASE_URL and KAIMEN_TEST_REDIS_URL) with
  ``KAIMEN_TRUSTED_PROXIES='["127.0.0.1/32"]'`` as the README sets it for nginx's address: readiness,
  both instances reached, a DPoP-bound Account API call end to end, the interaction id passed through
  and the caller's address as Kaimen records it (its access log, one JSON line per call).
"""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx
import orjson
import pytest
from cryptography import x509
from joserfc.jwk import ECKey

from tests.demo_flow_support import dpop_proof
from tests.multiprocess_support import AISP, PUBLIC, TOKEN, Cluster, Instance, two_instances
from tests.nginx_support import CLIENT_ADDRESS, NGINX, SERVER_NAME, Nginx, running_nginx
from tests.tls_support import Pem, self_signed

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        NGINX is None, reason="nginx is not installed (Debian's nginx package; .ci/run installs it)"
    ),
]

FORGED = "203.0.113.66"  # what a caller writes into X-Forwarded-For itself (RFC 5737 documentation range)
PERMISSIONS = ["ReadAccountsBasic", "ReadBalances"]


# In front of two echo servers -------------------------------------------------------------------------


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.name = name
        self.paths: list[str] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Echo(BaseHTTPRequestHandler):
    """Answers every GET with its server's name and the request's headers, as nginx sent them."""

    protocol_version = "HTTP/1.1"  # nginx keeps upstream connections alive (keepalive 32)
    server: _EchoServer

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        headers = [[name.lower(), value] for name, value in self.headers.items()]
        body = orjson.dumps({"server": self.server.name, "headers": headers})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class EchoEdge:
    nginx: Nginx
    upstreams: tuple[_EchoServer, _EchoServer]
    tpp: Pem  # a client certificate of the kind a TPP holds (self-signed: optional_no_ca takes any)


@pytest.fixture(scope="module")
def echo_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EchoEdge]:
    tmp = tmp_path_factory.mktemp("nginx-echo")
    servers = (_EchoServer("a"), _EchoServer("b"))
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    try:
        pem = self_signed(tmp / "tls", "edge", dns=(SERVER_NAME,))
        tpp = self_signed(tmp / "tls", "tpp", dns=("tpp.example",), ips=())
        with running_nginx(tmp / "nginx", pem, (servers[0].address, servers[1].address)) as nginx:
            yield EchoEdge(nginx, servers, tpp)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def forwarded(answer: httpx.Response) -> dict[str, list[str]]:
    """The headers the echo server received, by lower-case name."""
    assert answer.status_code == 200, answer.text
    seen: dict[str, list[str]] = {}
    for name, value in answer.json()["headers"]:
        seen.setdefault(name, []).append(value)
    return seen


def test_nginx_forwards_the_callers_address_and_https(echo_edge: EchoEdge) -> None:
    with echo_edge.nginx.client() as http:
        answer = http.get(AISP + "/accounts", headers={"X-Forwarded-For": FORGED})
    seen = forwarded(answer)
    # $proxy_add_x_forwarded_for: the caller's header, then the address nginx accepted it from. Kaimen
    # takes the rightmost address that is not a trusted proxy: the second (see the Kaimen tests below).
    assert seen["x-forwarded-for"] == [f"{FORGED}, {CLIENT_ADDRESS}"]
    assert seen["x-forwarded-proto"] == ["https"]


def test_a_client_certificate_is_forwarded_url_encoded(echo_edge: EchoEdge) -> None:
    with echo_edge.nginx.client(client=echo_edge.tpp) as http:
        answer = http.get(AISP + "/accounts", headers={"X-Client-Cert": "forged"})
    [header] = forwarded(answer)["x-client-cert"]
    sent = x509.load_pem_x509_certificate(echo_edge.tpp.certificate.read_bytes())
    assert x509.load_pem_x509_certificate(unquote(header).encode()) == sent


def test_a_caller_cannot_forge_the_client_certificate_header(echo_edge: EchoEdge) -> None:
    # No certificate in the handshake: nginx sends no X-Client-Cert at all, and drops the caller's.
    with echo_edge.nginx.client() as http:
        answer = http.get(AISP + "/accounts", headers={"X-Client-Cert": "forged"})
    assert "x-client-cert" not in forwarded(answer)


def _negotiated(nginx: Nginx, context: ssl.SSLContext) -> tuple[str, str]:
    with nginx.client(context=context) as http:
        answer = http.get("/livez")
        assert answer.status_code == 200
        tls = answer.extensions["network_stream"].get_extra_info("ssl_object")
        return tls.version(), tls.cipher()[0]


def test_tls_1_2_only_with_aead_suites_and_tls_1_3(echo_edge: EchoEdge) -> None:
    nginx = echo_edge.nginx
    assert _negotiated(nginx, nginx.trust())[0] == "TLSv1.3"
    tls12 = nginx.trust()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    version, suite = _negotiated(nginx, tls12)  # the client offers CBC and ChaCha20 suites as well
    assert (version, suite in {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"}) == (
        "TLSv1.2",
        True,
    ), suite
    # A TLS 1.2 client offering CBC suites only finds none in common (RFC 9325 §4.2).
    cbc = nginx.trust()
    cbc.maximum_version = ssl.TLSVersion.TLSv1_2
    cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA")
    with pytest.raises(httpx.ConnectError):
        _negotiated(nginx, cbc)


def test_metrics_are_refused_at_the_edge(echo_edge: EchoEdge) -> None:
    with echo_edge.nginx.client() as http:
        assert http.get("/metrics").status_code == 403
    assert all(path != "/metrics" for server in echo_edge.upstreams for path in server.paths)


def test_requests_are_spread_over_both_upstreams(echo_edge: EchoEdge) -> None:
    with echo_edge.nginx.client() as http:
        names = {http.get(f"/livez?n={n}").json()["server"] for n in range(4)}
    assert names == {"a", "b"}


# In front of two Kaimen instances ---------------------------------------------------------------------


T = TypeVar("T", bound=Callable[..., None])


def needs_services(test: T) -> T:
    """The markers of a test in front of Kaimen (two_instances skips, saying why, without them)."""
    marked: T = pytest.mark.postgres(pytest.mark.redis(test))
    return marked


@dataclass
class KaimenEdge:
    nginx: Nginx
    cluster: Cluster


@pytest.fixture(scope="module")
def kaimen_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KaimenEdge]:
    tmp = tmp_path_factory.mktemp("nginx-kaimen")
    served = {
        "KAIMEN_TRUSTED_PROXIES": '["127.0.0.1/32"]',  # nginx's address, as in README.md
        "KAIMEN_ACCESS_LOG": "true",  # one JSON line per call, with its client_ip and interaction_id
        "KAIMEN_LOG_LEVEL": "INFO",
    }
    with two_instances(tmp / "cluster", rate_limit=50, customers=1, extra_env=served) as cluster:
        pem = self_signed(tmp / "tls", "edge", dns=(SERVER_NAME,))
        upstreams = (f"127.0.0.1:{cluster.a.port}", f"127.0.0.1:{cluster.b.port}")
        with running_nginx(tmp / "nginx", pem, upstreams) as nginx:
            yield KaimenEdge(nginx, cluster)


def calls_logged(instance: Instance) -> dict[str, dict[str, Any]]:
    """The access-log lines of ``instance``, by interaction id."""
    lines = [orjson.loads(line) for line in instance.log.read_bytes().splitlines() if line.startswith(b"{")]
    return {line["interaction_id"]: line for line in lines if line.get("logger") == "kaimen.access"}


def logged(edge: KaimenEdge, interaction_id: str) -> dict[str, Any]:
    """The access-log line of one call, from whichever instance served it (the line is written once the
    answer has gone, so it may take a moment)."""
    deadline = time.monotonic() + 5
    while True:
        found = [calls_logged(at).get(interaction_id) for at in (edge.cluster.a, edge.cluster.b)]
        lines = [line for line in found if line is not None]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == 1, f"{interaction_id} logged {len(lines)} times"
    return lines[0]


@needs_services
def test_readyz_answers_through_nginx(kaimen_edge: KaimenEdge) -> None:
    with kaimen_edge.nginx.client() as http:
        ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


@needs_services
def test_requests_reach_both_instances(kaimen_edge: KaimenEdge) -> None:
    ids = [str(uuid.uuid4()) for _ in range(4)]
    with kaimen_edge.nginx.client() as http:
        for interaction_id in ids:
            answer = http.get(
                "/.well-known/openid-configuration", headers={"x-fapi-interaction-id": interaction_id}
            )
            assert answer.status_code == 200
            assert answer.json()["issuer"] == PUBLIC  # from KAIMEN_PUBLIC_BASE_URL, not the Host header
    for interaction_id in ids:
        logged(kaimen_edge, interaction_id)  # each served once, by one of them
    on_a, on_b = (set(ids) & calls_logged(at).keys() for at in (kaimen_edge.cluster.a, kaimen_edge.cluster.b))
    assert on_a and on_b and on_a | on_b == set(ids), (on_a, on_b)


@needs_services
def test_a_dpop_bound_account_api_call_works_through_nginx(kaimen_edge: KaimenEdge) -> None:
    tpp, key = kaimen_edge.cluster.tpp, ECKey.generate_key("P-256", private=True)
    with kaimen_edge.nginx.client() as http:
        # The proofs name the public URL (https://bank.test/...), which nginx serves.
        form = {**tpp.assertion(), "grant_type": "client_credentials", "scope": "accounts"}
        token_answer = http.post(TOKEN, data=form, headers={"DPoP": dpop_proof(key, "POST", PUBLIC + TOKEN)})
        assert token_answer.status_code == 200, token_answer.text
        assert token_answer.json()["token_type"] == "DPoP"
        token = token_answer.json()["access_token"]

        path = AISP + "/account-access-consents"
        interaction_id = str(uuid.uuid4())
        created = http.post(
            path,
            content=orjson.dumps({"Data": {"Permissions": PERMISSIONS}, "Risk": {}}),
            headers={
                "Authorization": f"DPoP {token}",
                "DPoP": dpop_proof(key, "POST", PUBLIC + path, token),
                "Content-Type": "application/json",
                "x-fapi-interaction-id": interaction_id,
            },
        )
        assert created.status_code == 201, created.text
        assert created.headers["x-fapi-interaction-id"] == interaction_id
        consent_id = created.json()["Data"]["ConsentId"]

        read_path = f"{path}/{consent_id}"
        read = http.get(
            read_path,
            headers={
                "Authorization": f"DPoP {token}",
                "DPoP": dpop_proof(key, "GET", PUBLIC + read_path, token),
            },
        )
        assert read.status_code == 200, read.text
        assert read.json()["Data"]["Status"] == "AwaitingAuthorisation"
    call = logged(kaimen_edge, interaction_id)
    assert (call["route"], call["status"], call["api"]) == (path, 201, "aisp")


@needs_services
def test_kaimen_records_the_address_nginx_saw_not_a_forged_one(kaimen_edge: KaimenEdge) -> None:
    interaction_id = str(uuid.uuid4())
    with kaimen_edge.nginx.client() as http:
        answer = http.get(
            "/.well-known/openid-configuration",
            headers={"x-fapi-interaction-id": interaction_id, "X-Forwarded-For": f"{FORGED}, 127.0.0.1"},
        )
    assert answer.status_code == 200
    assert answer.headers["x-fapi-interaction-id"] == interaction_id
    # nginx sent "203.0.113.66, 127.0.0.1, 127.0.0.2": the rightmost address that is not a trusted proxy
    # is the one nginx appended; the caller's own entries, even one naming the proxy, are never reached.
    assert logged(kaimen_edge, interaction_id)["client_ip"] == CLIENT_ADDRESS


@needs_services
def test_only_the_trusted_proxy_is_believed(kaimen_edge: KaimenEdge) -> None:
    # The same forged header sent straight to an instance, from an address that is not nginx's.
    interaction_id = str(uuid.uuid4())
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(transport=transport, timeout=10) as http:
        answer = http.get(
            kaimen_edge.cluster.a.url("/.well-known/openid-configuration"),
            headers={"x-fapi-interaction-id": interaction_id, "X-Forwarded-For": FORGED},
        )
    assert answer.status_code == 200
    assert logged(kaimen_edge, interaction_id)["client_ip"] == CLIENT_ADDRESS


@needs_services
def test_proofs_must_name_the_public_url_not_the_edges_address(kaimen_edge: KaimenEdge) -> None:
    # A proof naming the address the client really connected to (not the public URL) is refused: Kaimen
    # checks htu against KAIMEN_PUBLIC_BASE_URL, whichever host or instance a request came through.
    tpp, key = kaimen_edge.cluster.tpp, ECKey.generate_key("P-256", private=True)
    form = {**tpp.assertion(), "grant_type": "client_credentials", "scope": "accounts"}
    with kaimen_edge.nginx.client() as http:
        proof = dpop_proof(key, "POST", kaimen_edge.nginx.base + TOKEN)
        answer = http.post(TOKEN, data=form, headers={"DPoP": proof})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_dpop_proof"
