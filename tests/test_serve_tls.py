"""``kaimen serve`` serves TLS itself when given a certificate and key, for deployments with no proxy
in front (issue 6, item 1): HTTPS only on its port, TLS 1.3 only.

One real ``kaimen serve`` (embedded mode, one worker) with a self-signed certificate made here, given
on the command line.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.multiprocess_support import KAIMEN, free_port, stop_process
from tests.support import REPO
from tests.tls_support import Pem, self_signed

pytestmark = pytest.mark.server


@dataclass
class Served:
    port: int
    pem: Pem
    log: Path

    @property
    def https(self) -> str:
        return f"https://localhost:{self.port}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serve-tls")
    pem = self_signed(tmp / "tls", "kaimen")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIMEN_")} | {
        "KAIMEN_DATA_DIR": str(tmp / "data"),
        "KAIMEN_PUBLIC_BASE_URL": f"https://localhost:{port}",
        "KAIMEN_LOG_LEVEL": "WARNING",
    }
    subprocess.run([KAIMEN, "db", "upgrade"], cwd=REPO, env=env, check=True, capture_output=True)
    log = tmp / "server.log"
    command = [KAIMEN, "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--tls-certificate", str(pem.certificate), "--tls-private-key", str(pem.private_key)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    served = Served(port, pem, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"kaimen serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                httpx.get(served.https + "/livez", verify=pem.trust(), timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"kaimen serve not answering within 60 s:\n{log.read_text()}"
                    ) from None
                time.sleep(0.1)
        yield served
    finally:
        stop_process(process)


def test_https_answers_with_the_configured_certificate(served: Served) -> None:
    live = httpx.get(served.https + "/livez", verify=served.pem.trust(), timeout=5)
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    # The issuer is the https URL the certificate serves (RFC 8414 §2).
    meta = httpx.get(served.https + "/.well-known/openid-configuration", verify=served.pem.trust(), timeout=5)
    assert meta.status_code == 200
    assert meta.json()["issuer"] == served.https


def test_a_client_that_does_not_trust_the_certificate_is_refused(served: Served) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(served.https + "/livez", timeout=5)  # the system's trust store, not ours


def test_plain_http_is_refused_on_the_tls_port(served: Served) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{served.port}/livez", timeout=5)


def test_only_tls_1_3_is_offered(served: Served) -> None:
    # FAPI 2.0 §5.2.1: TLS 1.2 or later; Kaimen offers 1.3 only (kaimen.server).
    old = served.pem.trust()
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(httpx.ConnectError):
        httpx.get(served.https + "/livez", verify=old, timeout=5)
    new = served.pem.trust()
    new.minimum_version = ssl.TLSVersion.TLSv1_3
    assert httpx.get(served.https + "/livez", verify=new, timeout=5).status_code == 200
