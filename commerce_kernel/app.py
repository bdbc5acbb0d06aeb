"""The app factory and the `Kernel`: the running set of plugins and the resources they share."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from commerce_kernel.db import Database
from commerce_kernel.errors import exception_handlers
from commerce_kernel.identity import Tokens
from commerce_kernel.logging import RequestMiddleware, configure_logging
from commerce_kernel.mail import Mailer, create_mailer
from commerce_kernel.plugins import (
    LoadedPlugin,
    PluginError,
    build_plugin_manager,
    load_plugins,
)
from commerce_kernel.pubsub import PubSub, RedisPubSub
from commerce_kernel.ratelimit import RateLimiter, RedisRateLimiter
from commerce_kernel.settings import SectionSettings, Settings
from commerce_kernel.tasks import ArqQueue, InProcessQueue, TaskQueue

logger = logging.getLogger("commerce.app")


class Kernel:
    """Settings, plugins and shared resources of one process. Plugins reach it as
    `request.app.state.kernel`, `call.kernel` in handlers, or the `kernel` hook argument."""

    def __init__(
        self,
        settings: Settings,
        plugins: Sequence[LoadedPlugin],
        overrides: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.plugins = list(plugins)
        # Values given in code (tests, embedding) beat the environment for sections too.
        self.overrides = {k.lower(): v for k, v in (overrides or {}).items()}
        self.state: dict[str, Any] = {}  # per-deployment plugin state (caches, clients)
        self.pm, self.hooks = build_plugin_manager(self.plugins)
        self.sections = self._load_sections()
        self.db = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            timeout=settings.db_timeout,
        )
        self.tokens = Tokens(
            settings.resolved_secret_key(),
            settings.access_token_ttl,
            settings.admin_access_token_ttl,
            settings.refresh_token_ttl,
        )
        tasks = self.hooks.call_sync("tasks", kernel=self)
        cron = self.hooks.call_sync("cron_jobs", kernel=self)
        self.queue: TaskQueue
        self.pubsub: PubSub
        self.limiter: RateLimiter
        self.redis: Any = None
        if settings.redis_url:
            self.queue = ArqQueue(
                tasks, cron, settings.task_retry_delay, settings.redis_url, settings.redis_prefix
            )
            self.pubsub = RedisPubSub(settings.redis_url, settings.redis_prefix)
        else:
            self.queue = InProcessQueue(tasks, cron, settings.task_retry_delay)
            self.pubsub = PubSub()
            self.limiter = RateLimiter()
        self.mailer: Mailer = create_mailer(settings)
        self.started = False

    @classmethod
    def load(
        cls,
        settings: Settings | None = None,
        *,
        plugins: Sequence[str] | None = None,
        extra_plugins: Iterable[Any] = (),
    ) -> Kernel:
        settings = settings or Settings()
        enabled = plugins if plugins is not None else settings.commerce_plugins
        loaded = load_plugins(enabled, settings.commerce_disabled_plugins, extra_plugins)
        return cls(settings, loaded)

    def _load_sections(self) -> dict[str, SectionSettings]:
        sections: dict[str, SectionSettings] = {}
        for impl in self.hooks.implementations("settings_section"):
            result = impl.function()
            if result is None:
                continue
            name, model = result
            given = {k: v for k, v in self.overrides.items() if k in model.model_fields}
            try:
                sections[name] = model(**given)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
                )
                raise PluginError(
                    f"plugin {impl.plugin_name!r}: invalid settings ({problems})"
                ) from None
        return sections

    def section(self, name: str) -> Any:
        return self.sections[name]

    @property
    def plugin_names(self) -> list[str]:
        return [p.info.name for p in self.plugins]

    def has_plugin(self, name: str) -> bool:
        return any(p.info.name == name for p in self.plugins)

    async def start(self, *, run_cron: bool | None = None) -> None:
        """Open Redis, queue and pub/sub, then run the plugins' start-up hooks."""
        if self.started:
            return
        if self.settings.redis_url:
            import redis.asyncio as aioredis

            self.redis = aioredis.Redis.from_url(self.settings.redis_url)
            self.limiter = RedisRateLimiter(self.redis, self.settings.redis_prefix)
        await self.pubsub.start()
        await self.queue.start(
            self, run_cron=not self.settings.redis_url if run_cron is None else run_cron
        )
        await self.hooks.call("startup", kernel=self)
        self.started = True

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        try:
            await self.hooks.call("shutdown", reverse=True, kernel=self)
        finally:
            await self.queue.stop()
            await self.pubsub.stop()
            if self.redis is not None:
                await self.redis.aclose()
            await self.db.dispose()

    @asynccontextmanager
    async def running(self, **kw: Any) -> AsyncIterator[Kernel]:
        await self.start(**kw)
        try:
            yield self
        finally:
            await self.stop()

    def routes(self) -> list[BaseRoute]:
        return with_optional_slash(self.hooks.call_sync("routes", kernel=self))

    def openapi(self, routes: Iterable[BaseRoute]) -> dict[str, Any]:
        from commerce_kernel import __version__
        from commerce_kernel.openapi import build_openapi

        return build_openapi(
            routes,
            title="commerce-kernel API",
            version=__version__,
            plugins=[{"name": p.info.name, "version": p.info.version} for p in self.plugins],
        )


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
    extra_plugins: Iterable[Any] = (),
    kernel: Kernel | None = None,
) -> Starlette:
    """The Starlette app of the enabled plugins, with one lifespan for all shared resources."""
    settings = settings or (kernel.settings if kernel else Settings())
    configure_logging(settings.log_level)
    kernel = kernel or Kernel.load(settings, plugins=plugins, extra_plugins=extra_plugins)
    routes = kernel.routes()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with kernel.running():
            yield

    middleware = [Middleware(RequestMiddleware, allowed_hosts=settings.allowed_hosts)]
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
    middleware.extend(kernel.hooks.call_sync("middleware", kernel=kernel))
    app = Starlette(
        debug=False,
        routes=routes,
        middleware=middleware,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.kernel = kernel
    app.state.openapi = kernel.openapi(routes)
    return app
