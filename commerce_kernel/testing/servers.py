"""Serving an ASGI app with a real uvicorn inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn

from commerce_kernel.testing.backends import free_port


@contextlib.asynccontextmanager
async def serve_app(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """Serve any ASGI app with a real uvicorn in this event loop: a fake third-party service
    (a JWKS endpoint, a payment provider) or the deployment itself. Yields its base URL."""

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the signals belong to the test runner

    port = port or free_port()
    # As `commerce serve` for a deployment's app; uvicorn's default for any other app.
    kernel = getattr(getattr(app, "state", None), "kernel", None)
    ws_max_size = kernel.settings.max_request_bytes if kernel is not None else 16 * 1024 * 1024
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=ws_max_size,
        server_header=False,  # as `commerce serve`
        proxy_headers=False,  # the kernel resolves client addresses (TRUSTED_PROXIES)
    )
    server = Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 5)
        except TimeoutError:
            # A handler that never notices its client left must not hang the test run.
            server.force_exit = True
            await asyncio.wait_for(task, 5)
