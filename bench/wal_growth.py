"""Whether the embedded database's files stay bounded under steady traffic, and what a call costs as
they grow: the gateway (same application, data and settings as bench/gateway.py) driven in-process,
in rounds, printing µs per call and the size of each file of the data dir after each round.

A WAL that is never restarted grows by every commit (it reached 400 MB after 800,000 calls before
kaimen.store.wal restarted it past 32 MiB); the database file grows by the audit chain's records,
which are kept by design.

    .venv/bin/python bench/wal_growth.py [--rounds 16] [--calls 50000] [--clients 32]

To compare two trees, point PYTHONPATH at the other's src (``PYTHONPATH=../other/src``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import uvloop

import prepare
import profile_gateway


def _sizes(data: Path) -> str:
    return ", ".join(
        f"{path.name} {path.stat().st_size / 2**20:.1f} MiB"
        for path in sorted(data.iterdir())
        if path.name.startswith("kaimen.db")
    )


async def _run(args: argparse.Namespace, prepared: prepare.Prepared, data: Path) -> None:
    os.environ.update(prepared.env)
    from kaimen.asgi import app_from_env

    gateway: Any = app_from_env()
    lifespan, inbox = await profile_gateway._lifespan(gateway)
    key = [(b"x-api-key", prepared.api_key.encode())]
    try:
        await profile_gateway._drive(gateway, key, 2000, args.clients)  # warm-up
        for number in range(1, args.rounds + 1):
            per_call = await profile_gateway._drive(gateway, key, args.calls, args.clients) * 1e6
            print(f"round {number:2d}: {per_call:5.1f} µs/call   {_sizes(data)}", flush=True)
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=16)
    p.add_argument("--calls", type=int, default=50_000, help="gateway calls per round")
    p.add_argument("--clients", type=int, default=32)
    args = p.parse_args()
    prepare.clean_environ()
    work = Path(tempfile.mkdtemp(prefix="kaimen-wal-growth-"))
    try:
        data = work / "data"
        prepared = prepare.prepare(data, log_level="WARNING", redis_url=None)
        uvloop.run(_run(args, prepared, data))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
