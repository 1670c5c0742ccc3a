"""The baseline of the gateway benchmark: a bare Starlette app with one GET route.

It answers exactly the body bytes and media type that Kaimen's Product API answered for the same path
(captured by bench/gateway.py into the files named by BENCH_BODY_FILE and BENCH_MEDIA_TYPE_FILE), with
no middleware, no database and no work beyond Starlette's routing. BENCH_PATH (default: the PCA path)
names the route, so bench/token.py serves the userinfo answer the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATH = "/open-banking/v2.4/personal-current-accounts"


def create() -> Starlette:
    body = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()
    media_type = Path(os.environ["BENCH_MEDIA_TYPE_FILE"]).read_text().strip()

    async def products(request: Request) -> Response:
        return Response(body, media_type=media_type)

    return Starlette(routes=[Route(os.environ.get("BENCH_PATH", PATH), products, methods=["GET"])])
