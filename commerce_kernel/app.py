"""The app factory: the Starlette app of a kernel's plugins, with one lifespan for all the
resources they share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from types import ModuleType

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from commerce_kernel import hookspecs
from commerce_kernel.errors import exception_handlers
from commerce_kernel.kernel import Kernel
from commerce_kernel.middleware import RequestMiddleware
from commerce_kernel.security import SecurityHeadersMiddleware
from commerce_kernel.settings import Settings


def with_optional_slash(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """Canonical paths end with `/`; answer the same path without it too (no redirect)."""
    out = list(routes)
    for route in routes:
        path = getattr(route, "path", "")
        if not path.endswith("/") or path == "/" or isinstance(route, Mount):
            continue
        if isinstance(route, Route):
            twin = Route(
                path.rstrip("/"),
                route.endpoint,
                methods=route.methods,
                name=None,
                include_in_schema=False,
            )
            twin.app = route.app
            out.append(twin)
        elif isinstance(route, WebSocketRoute):
            out.append(WebSocketRoute(path.rstrip("/"), route.endpoint, name=None))
    return out


def create_app(
    settings: Settings | None = None,
    *,
    plugins: Sequence[str] | None = None,
    extra_plugins: Iterable[ModuleType] = (),
    kernel: Kernel | None = None,
) -> Starlette:
    """The Starlette app of the enabled plugins (or of `kernel`). Logging is left to the
    caller: `commerce serve` configures it (`commerce_kernel.logging.configure_logging`)."""
    if kernel is None:
        kernel = Kernel.load(settings, plugins=plugins, extra_plugins=extra_plugins)
    settings = kernel.settings
    routes = kernel.routes()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with kernel.running():
            yield

    # Security headers outermost, so the Host check's 400 and the 500/503 answers get them too.
    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(RequestMiddleware, allowed_hosts=settings.allowed_hosts),
    ]
    if settings.cors_allowed_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_allowed_origins,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["X-Request-ID", "Retry-After"],
                allow_credentials=False,
                max_age=600,
            )
        )
    middleware.extend(kernel.hooks.call_sync(hookspecs.middleware, kernel=kernel))
    app = Starlette(
        debug=False,
        routes=with_optional_slash(routes),
        middleware=middleware,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.kernel = kernel
    app.state.openapi = kernel.openapi(routes)
    return app
