"""Debian's nginx, run with the configuration README.md shows (issue 6, item 5).

:func:`readme_config` takes the one fenced ``nginx`` block out of README.md; :func:`for_test` replaces
only what names the bank's machines: the listen port (443 -> a free loopback port), the
``server_name`` (bank.example -> bank.test), the certificate and key paths (-> a self-signed pair made
by the test) and the two upstream addresses (-> whatever the test runs there). Each of those must
appear exactly once, so a README edit that moves them fails here instead of testing something else.
Everything else (TLS versions and suites, client certificates, the forwarded headers, the /metrics
refusal) is the README's.

:func:`running_nginx` wraps that block in a main configuration of its own (pid, logs and temp
directories in the test's directory, no daemon) and runs the ``nginx`` binary with ``-p``/``-e``/``-c``
pointing there: the package's own service, configuration and port 80 are never touched. When the tests
run as root, nginx's workers run as root too (they would be ``nobody`` otherwise, who cannot write to
the test's directory).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.multiprocess_support import free_port
from tests.support import REPO
from tests.tls_support import Pem

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
)
SERVER_NAME = "bank.test"
# The address the tests' clients connect from: not nginx's own (127.0.0.1, the trusted proxy), so the
# address nginx appends to X-Forwarded-For is told apart from the proxy's.
CLIENT_ADDRESS = "127.0.0.2"
_NGINX_BLOCK = re.compile(r"^```nginx\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_config() -> str:
    blocks = _NGINX_BLOCK.findall((REPO / "README.md").read_text())
    assert len(blocks) == 1, f"README.md should show one nginx configuration, not {len(blocks)}"
    config: str = blocks[0]
    return config


def for_test(config: str, *, port: int, pem: Pem, upstreams: tuple[str, str]) -> str:
    """The README's configuration with the test's port, name, certificate and upstreams."""
    replacements = [
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;"),
        ("server_name bank.example;", f"server_name {SERVER_NAME};"),
        ("/etc/ssl/bank.example/fullchain.pem", str(pem.certificate)),
        ("/etc/ssl/bank.example/privkey.pem", str(pem.private_key)),
        ("server 10.0.0.21:8000 ", f"server {upstreams[0]} "),
        ("server 10.0.0.22:8000 ", f"server {upstreams[1]} "),
    ]
    for old, new in replacements:
        assert config.count(old) == 1, f"README.md's nginx block should hold {old!r} once"
        config = config.replace(old, new)
    return config


@dataclass
class Nginx:
    port: int
    pem: Pem
    log: Path

    @property
    def base(self) -> str:
        # The certificate names 127.0.0.1 as well as bank.test, so the client checks it by address.
        return f"https://127.0.0.1:{self.port}"

    def trust(self, *, client: Pem | None = None) -> ssl.SSLContext:
        context = self.pem.trust()
        if client is not None:
            context.load_cert_chain(client.certificate, client.private_key)
        return context

    def client(self, *, client: Pem | None = None, context: ssl.SSLContext | None = None) -> httpx.Client:
        """An HTTPS client from CLIENT_ADDRESS, trusting nginx's certificate (and presenting ``client``)."""
        transport = httpx.HTTPTransport(
            verify=context or self.trust(client=client), local_address=CLIENT_ADDRESS
        )
        return httpx.Client(transport=transport, base_url=self.base, timeout=10)

    def errors(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _main_config(prefix: Path, site: Path) -> str:
    user = f"user {pwd.getpwuid(0).pw_name};" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""daemon off;
master_process on;
worker_processes 1;
{user}
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 128; }}
http {{
    access_log {prefix / "access.log"};
{temp}
    include {site};
}}
"""


@contextmanager
def running_nginx(prefix: Path, pem: Pem, upstreams: tuple[str, str]) -> Iterator[Nginx]:
    """nginx with README.md's configuration in front of ``upstreams``, answering; stopped afterwards."""
    assert NGINX is not None
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    site = prefix / "kaimen.conf"
    site.write_text(for_test(readme_config(), port=port, pem=pem, upstreams=upstreams))
    main = prefix / "nginx.conf"
    main.write_text(_main_config(prefix, site))
    log = prefix / "error.log"
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-e", str(log), "-c", str(main)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the workers are stopped with it
    )
    nginx = Nginx(port, pem, log)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited with {process.returncode}:\n{nginx.errors()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx not listening within 20 s:\n{nginx.errors()}") from None
                time.sleep(0.05)
        yield nginx
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # nginx: fast shutdown
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
