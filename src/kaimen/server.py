"""Runs Kaimen under granian: ``kaimen serve`` and ``kaimen demo`` both come through here.

Worker processes import an application factory and read their settings from the environment, so
whatever the command line overrides is put into the environment first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def run(*, factory: str, host: str, port: int, workers: int, env: Mapping[str, str]) -> None:
    """Serve ``factory`` (``module:function``) until interrupted. Blocks."""
    from granian.constants import Interfaces, Loops
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
    )
    server.serve()
