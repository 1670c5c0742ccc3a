"""Runs Kaimen under granian: ``kaimen serve`` and ``kaimen demo`` both come through here.

Worker processes import an application factory and read their settings from the environment, so
whatever the command line overrides is put into the environment first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple


class Tls(NamedTuple):
    """Kaimen's own certificate chain and private key (PEM files, checked by kaimen.tls)."""

    certificate: Path
    private_key: Path


def run(
    *, factory: str, host: str, port: int, workers: int, env: Mapping[str, str], tls: Tls | None = None
) -> None:
    """Serve ``factory`` (``module:function``) until interrupted, over TLS when ``tls`` is given.
    Blocks."""
    from granian.constants import Interfaces, Loops, SSLProtocols
    from granian.log import LogLevels
    from granian.server import Server

    os.environ.update(env)
    server = Server(
        factory,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
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
    server.serve()
