"""The demo worker: Kaimen's app behind a start-up gate.

Sandbox contract (DESIGN.md): the credentials file is written "once the socket is bound and before the
first request is served". granian binds in the worker after the lifespan start-up, so the gate waits
until a TCP connect to the port succeeds (the socket is bound and listening), publishes the file, and
only then lets requests through; a request that arrives earlier waits at the gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import orjson

from kaimen.app import create_app
from kaimen.demo.credentials import pending_path, write_atomically
from kaimen.settings import Settings, load_settings

log = logging.getLogger("kaimen.demo")


class StartupGate:
    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.open = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        if not self.open.is_set():
            await self.open.wait()
        await self.app(scope, receive, send)

    def _lifespan_receive(self, receive: Any) -> Any:
        async def wrapped() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] == "lifespan.startup":
                self._task = asyncio.create_task(self._publish_when_bound())
            elif message["type"] == "lifespan.shutdown" and self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            return message

        return wrapped

    async def _publish_when_bound(self) -> None:
        host, port = self.settings.host, self.settings.port
        while True:
            try:
                _reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            break
        out = self.settings.demo_credentials_out
        pending = pending_path(self.settings.data_dir)
        if out is not None and pending.exists():
            write_atomically(Path(out), orjson.loads(pending.read_bytes()))
            pending.unlink()
            log.warning("sandbox bank ready at %s; credentials in %s", self.settings.public_base_url, out)
        self.open.set()


def demo_app_from_env() -> Any:
    settings = load_settings()
    from kaimen.logs import configure_logging

    configure_logging(settings.log_level)
    return StartupGate(create_app(settings), settings)
