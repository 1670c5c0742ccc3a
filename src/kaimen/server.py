"""Runs Kaimen under granian: ``kaimen serve`` and ``kaimen demo`` both come through here.

Worker processes import an application factory and read their settings from the environment, so
whatever the command line overrides is put into the environment first.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple


class Tls(NamedTuple):
    """Kaimen's own certificate chain and private key (PEM files, checked by kaimen.tls)."""

    certificate: Path
    private_key: Path


def bind_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be served, None when it can. granian binds with SO_REUSEPORT, so a second
    server on a port another one listens on would start without a word and split the connections with
    it; this plain bind (SO_REUSEADDR only: connections of a stopped server in TIME_WAIT do not count)
    is refused instead. Port 0 (any free port) is always free."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is in use"
            return f"cannot bind {host} port {port}: {exc.strerror}"
    return None


def run(
    *,
    factory: str,
    host: str,
    port: int,
    workers: int,
    env: Mapping[str, str],
    concurrent_requests: int,
    tls: Tls | None = None,
) -> None:
    """Serve ``factory`` (``module:function``) until interrupted, over TLS when ``tls`` is given, each
    worker working on at most ``concurrent_requests`` requests at once. Blocks."""
    from granian.constants import Interfaces, Loops, SSLProtocols
    from granian.log import LogLevels
    from granian.server import Server

    os.environ.update(env)
    metrics_dir = _metrics_dir(workers)
    server = Server(
        factory,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        # KAIMEN_MAX_CONCURRENT_REQUESTS: the Redis clients' pools are sized to it (kaimen.settings).
        backpressure=concurrent_requests,
        factory=True,
        loop=Loops.uvloop,
        log_level=LogLevels.warning,
        log_access=False,  # Kaimen logs each call itself, without query strings (they may hold secrets)
        respawn_failed_workers=True,
        workers_kill_timeout=30,
        ssl_cert=tls.certificate if tls else None,
        ssl_key=tls.private_key if tls else None,
        # FAPI 2.0 §5.2.1 asks for TLS 1.2 or later; Kaimen offers TLS 1.3 only.
        ssl_protocol_min=SSLProtocols.tls13,
    )
    try:
        server.serve()
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir(workers: int) -> str | None:
    """With more than one worker, a fresh directory for prometheus_client's multiprocess mode (in the
    environment the workers inherit), so that ``/metrics`` sums every worker's values
    (kaimen.gateway.metrics); removed when the server stops. Values of a worker that died stay counted,
    as a counter's must. None with one worker: its own registry is the whole story."""
    if workers < 2:
        return None
    path = tempfile.mkdtemp(prefix="kaimen-metrics-")
    # kaimen.gateway.metrics.MULTIPROCESS_DIR, spelt out: importing that module here would import
    # prometheus_client before the variable is set, and forked workers would inherit single-process mode.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path
