"""kaimen.server.run: what granian is asked for. Each worker works on at most
KAIMEN_MAX_CONCURRENT_REQUESTS requests at once, the bound the Redis clients' pools are sized to."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from kaimen import server


class FakeServer:
    made: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, target: str, **kwargs: Any) -> None:
        FakeServer.made.append({"target": target, **kwargs})

    def serve(self) -> None:
        return None


def test_each_worker_works_on_at_most_the_configured_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    import granian.server

    monkeypatch.setattr(granian.server, "Server", FakeServer)
    FakeServer.made.clear()
    server.run(
        factory="kaimen.asgi:app_from_env",
        host="127.0.0.1",
        port=0,
        workers=1,
        env={},
        concurrent_requests=37,
    )
    [made] = FakeServer.made
    assert (made["target"], made["workers"], made["backpressure"]) == ("kaimen.asgi:app_from_env", 1, 37)
