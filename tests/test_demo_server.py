"""``kaimen demo`` end to end, as an outside tool sees it (DESIGN.md, "Sandbox contract")."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import REPO

pytestmark = pytest.mark.server

KAIMEN = str(Path(sys.executable).parent / "kaimen")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Demo:
    def __init__(self, data_dir: Path, creds: Path, port: int) -> None:
        self.data_dir, self.creds, self.port = data_dir, creds, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAIMEN_")}
        self.creds.unlink(missing_ok=True)  # wait for this run's file, not the last run's
        self.proc = subprocess.Popen(
            [
                KAIMEN,
                "demo",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--credentials-out",
                str(self.creds),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not self.creds.exists():
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                raise AssertionError(f"demo exited early: {out}")
            if time.monotonic() > deadline:
                raise AssertionError("credentials file never appeared")
            time.sleep(0.05)
        import json

        return dict(json.loads(self.creds.read_text()))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                # A graceful stop takes about 0.5 s; nothing is asserted on it, and under load the demo
                # has been seen to sit out the whole wait now and then before the SIGKILL (was 20 s).
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(tmp_path / "data", tmp_path / "out" / "credentials.json", free_port())
    try:
        yield running
    finally:
        running.stop()


def tpp(creds: dict[str, Any], tier: str) -> dict[str, Any]:
    return next(t for t in creds["tpps"] if t["tier"] == tier)


def test_demo_publishes_credentials_and_serves_every_refusal(demo: Demo) -> None:
    creds = demo.start()
    # The file is written once the socket is bound: the very first request must connect.
    base = f"http://localhost:{demo.port}"
    assert creds["issuer"] == base
    assert creds["apis"]["opendata"] == f"{base}/open-banking"
    assert stat.S_IMODE(demo.creds.stat().st_mode) == 0o600
    assert creds["discovery"] == f"{base}/.well-known/openid-configuration"
    assert len({t["tier"] for t in creds["tpps"]}) >= 2
    for t in creds["tpps"]:
        assert set(t) == {"name", "tier", "api_key", "client_id", "private_jwk", "redirect_uris", "jws_iss"}
        assert t["jws_iss"] == t["client_id"]  # a demo client has no software statement (kaimen.jws)
        jwk = t["private_jwk"]
        assert jwk["kty"] == "RSA" and jwk["alg"] == "PS256" and jwk["kid"] and jwk["d"]
        assert all(uri.startswith("http://localhost:") for uri in t["redirect_uris"])
    assert creds["apis"]["aisp"] == f"{base}/open-banking/v3.1/aisp"
    assert creds["apis"]["pisp"] == f"{base}/open-banking/v3.1/pisp"
    assert creds["jws_tan"] == "openbanking.kaimen.example"  # KAIMEN_JWS_TAN's default
    assert len(creds["customers"]) == 3
    for customer in creds["customers"]:
        assert set(customer) == {"username", "password", "totp_secret", "accounts"}
        for account in customer["accounts"]:
            assert set(account) == {"account_id", "identification", "currency", "balance"}
            assert re.fullmatch(r"\d{14}", account["identification"])
            assert re.fullmatch(r"\d{1,13}\.\d{2}", account["balance"]) and account["currency"] == "GBP"
    # DESIGN.md: three customers, one of whom holds two accounts.
    assert any(len(customer["accounts"]) >= 2 for customer in creds["customers"])
    assert len({a["account_id"] for c in creds["customers"] for a in c["accounts"]}) == sum(
        len(c["accounts"]) for c in creds["customers"]
    )
    partner, acquaintance = tpp(creds, "PARTNER"), tpp(creds, "ACQUAINTANCE")
    pca = creds["apis"]["opendata"] + "/v2.4/personal-current-accounts"
    bca = creds["apis"]["opendata"] + "/v2.4/business-current-accounts"
    with httpx.Client(timeout=10) as http:
        ok = http.get(pca, headers={"x-api-key": acquaintance["api_key"]})
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith("application/prs.openbanking.opendata.v2.4+json")
        assert ok.json()["data"]
        assert http.get(pca).status_code == 401
        assert http.get(bca, headers={"x-api-key": acquaintance["api_key"]}).status_code == 403
        assert http.get(bca, headers={"x-api-key": partner["api_key"]}).status_code == 200
        etag = ok.headers["etag"]
        again = http.get(pca, headers={"x-api-key": acquaintance["api_key"], "if-none-match": etag})
        assert again.status_code == 304
        meta = http.get(creds["discovery"]).json()
        assert meta["issuer"] == base
        assert meta["pushed_authorization_request_endpoint"] == f"{base}/oauth2/par"


def test_demo_rerun_keeps_data_and_issues_fresh_keys(demo: Demo) -> None:
    first = demo.start()
    demo.stop()
    second = demo.start()
    old_key = tpp(first, "PARTNER")["api_key"]
    new_key = tpp(second, "PARTNER")["api_key"]
    assert old_key != new_key
    # The OAuth clients stay, re-keyed; the customers stay, with fresh passwords and the same TOTP seed.
    assert tpp(first, "PARTNER")["client_id"] == tpp(second, "PARTNER")["client_id"]
    assert tpp(first, "PARTNER")["private_jwk"]["kid"] != tpp(second, "PARTNER")["private_jwk"]["kid"]
    assert [c["totp_secret"] for c in first["customers"]] == [c["totp_secret"] for c in second["customers"]]
    assert [c["password"] for c in first["customers"]] != [c["password"] for c in second["customers"]]
    assert [t["name"] for t in first["tpps"]] == [t["name"] for t in second["tpps"]]
    url = second["apis"]["opendata"] + "/v2.3/atms"
    with httpx.Client(timeout=10) as http:
        # ATMs are PUBLIC, but a revoked key presented is still refused rather than ignored.
        assert http.get(url, headers={"x-api-key": new_key}).status_code == 200
        assert http.get(url, headers={"x-api-key": old_key}).status_code == 401


def test_a_second_demo_on_a_running_ones_port_is_refused_before_touching_its_data(demo: Demo) -> None:
    # granian binds with SO_REUSEPORT: the second demo used to re-seed the shared data dir, rewrite
    # the credentials file under the running demo and then split the connections with it.
    creds = demo.start()
    published = demo.creds.read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIMEN_")}
    args = ["--port", str(demo.port), "--data-dir", str(demo.data_dir), "--credentials-out", str(demo.creds)]
    second = subprocess.run(
        [KAIMEN, "demo", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert (second.returncode, second.stdout, second.stderr) == (
        1,
        "",
        f"Error: port {demo.port} on 127.0.0.1 is in use\n",
    )
    assert demo.creds.read_bytes() == published
    with httpx.Client(timeout=10) as http:  # the first demo still serves, with its keys
        key = tpp(creds, "ACQUAINTANCE")["api_key"]
        response = http.get(creds["apis"]["opendata"] + "/v2.3/atms", headers={"x-api-key": key})
        assert response.status_code == 200
