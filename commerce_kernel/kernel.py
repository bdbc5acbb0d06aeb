"""The `Kernel`: the running set of plugins and the resources they share (settings sections,
database, tokens, task queue, pub/sub, rate limiter, mail, one Redis client)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import cached_property
from types import ModuleType
from typing import Any, TypeVar

from pydantic import ValidationError
from redis.asyncio import Redis
from starlette.routing import BaseRoute

from commerce_kernel import hookspecs
from commerce_kernel.db import Database
from commerce_kernel.events import Events
from commerce_kernel.hooks import Hooks
from commerce_kernel.identity import Tokens, token_states
from commerce_kernel.mail import Mailer, create_mailer, refuse_mail_to_log
from commerce_kernel.markers import PluginError
from commerce_kernel.openapi import build_openapi
from commerce_kernel.plugins import LoadedPlugin, load_plugins
from commerce_kernel.pubsub import PubSub
from commerce_kernel.ratelimit import RateLimiter
from commerce_kernel.settings import SectionSettings, Settings
from commerce_kernel.tasks import RetryPolicy, TaskQueue
from commerce_kernel.version import __version__

logger = logging.getLogger("commerce.kernel")

S = TypeVar("S", bound=SectionSettings)
T = TypeVar("T")


class Kernel:
    """Settings, plugins and shared resources of one process. Plugins reach it as `call.kernel`
    in handlers, `ctx.kernel` in tasks, or the `kernel` hook argument.

    Building one reads every plugin's contributions (sections, tasks, cron jobs) but opens
    nothing; `start()` (or `async with kernel.running()`) connects and runs start-up hooks.
    """

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
        self.state: dict[str, Any] = {}
        self.hooks = Hooks.build(self.plugins)
        self.sections = self._load_sections()
        self.db = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            timeout=settings.db_timeout,
        )
        tasks = self.hooks.call_sync(hookspecs.tasks, kernel=self)
        cron = self.hooks.call_sync(hookspecs.cron_jobs, kernel=self)
        policy = RetryPolicy(settings.task_retry_delay)
        self.redis: Redis | None = None
        self.queue: TaskQueue
        self.pubsub: PubSub
        self.limiter: RateLimiter
        if settings.redis_url:
            from commerce_kernel.pubsub.redis import RedisPubSub
            from commerce_kernel.ratelimit.redis import RedisRateLimiter
            from commerce_kernel.tasks.redis import ArqQueue, connect

            # One client (and connection pool) for the queue, pub/sub and the limiter.
            arq_redis = connect(settings.redis_url, settings.redis_prefix)
            self.redis = arq_redis
            self.queue = ArqQueue(tasks, cron, policy, arq_redis, settings.redis_prefix)
            self.pubsub = RedisPubSub(arq_redis, settings.redis_prefix)
            self.limiter = RedisRateLimiter(arq_redis, settings.redis_prefix)
        else:
            from commerce_kernel.pubsub.memory import MemoryPubSub
            from commerce_kernel.ratelimit.memory import MemoryRateLimiter
            from commerce_kernel.tasks.memory import InProcessQueue

            self.queue = InProcessQueue(tasks, cron, policy)
            self.pubsub = MemoryPubSub()
            self.limiter = MemoryRateLimiter()
        self.mailer: Mailer = create_mailer(settings)
        self.events = Events(self)
        self.started = False

    @classmethod
    def load(
        cls,
        settings: Settings | None = None,
        *,
        plugins: Sequence[str] | None = None,
        extra_plugins: Iterable[ModuleType] = (),
        overrides: dict[str, str] | None = None,
    ) -> Kernel:
        """Discover, check and order the enabled plugins (`COMMERCE_PLUGINS`, or `plugins`)."""
        settings = settings or Settings()
        enabled = plugins if plugins is not None else settings.commerce_plugins
        loaded = load_plugins(enabled, settings.commerce_disabled_plugins, extra_plugins)
        return cls(settings, loaded, overrides)

    # --- what the plugins declared --------------------------------------------------------

    def _load_sections(self) -> dict[type[SectionSettings], SectionSettings]:
        sections: dict[type[SectionSettings], SectionSettings] = {}
        for plugin_name, answer in self.hooks.each(hookspecs.settings_section):
            models = answer if isinstance(answer, list | tuple) else [answer]
            for model in models:
                if model is None:
                    continue
                if not (isinstance(model, type) and issubclass(model, SectionSettings)):
                    raise PluginError(
                        f"plugin {plugin_name!r}: settings_section must return a "
                        f"SectionSettings subclass, not {model!r}"
                    )
                prefix = (
                    model.env_prefix if model.env_prefix is not None else f"{plugin_name.upper()}_"
                )
                names = model.variable_names(prefix)
                given = {names[k]: v for k, v in self.overrides.items() if k in names}
                try:
                    sections[model] = model(_env_prefix=prefix, **given)  # type: ignore[call-arg]
                except ValidationError as exc:
                    problems = "; ".join(
                        f"{prefix.upper()}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                        for e in exc.errors()
                    )
                    raise PluginError(
                        f"plugin {plugin_name!r}: invalid settings ({problems})"
                    ) from None
        return sections

    def section(self, model: type[S]) -> S:
        """The settings section of that class, as read at start-up."""
        try:
            return self.sections[model]  # type: ignore[return-value]
        except KeyError:
            raise LookupError(
                f"no enabled plugin declares the settings section {model.__qualname__}"
            ) from None

    def cached(self, key: str, factory: Callable[[], T]) -> T:
        """A per-deployment object (a cache, a client, derived keys), made once on first use
        and kept in `kernel.state[key]`; name keys after the plugin (`auth_otp.code_keys`).
        One with an `aclose()` method (an HTTP client) is closed when the kernel stops."""
        try:
            return self.state[key]
        except KeyError:
            value = self.state[key] = factory()
            return value

    @cached_property
    def tokens(self) -> Tokens:
        """Token issue and verification, with the deployment's secret key (resolved on first
        use, so commands that only read create no key file)."""
        s = self.settings
        return Tokens(
            s.resolved_secret_key(),
            s.access_token_ttl,
            s.admin_access_token_ttl,
            s.refresh_token_ttl,
        )

    @property
    def plugin_names(self) -> list[str]:
        return [p.info.name for p in self.plugins]

    def has_plugin(self, name: str) -> bool:
        return any(p.info.name == name for p in self.plugins)

    def routes(self) -> list[BaseRoute]:
        return self.hooks.call_sync(hookspecs.routes, kernel=self)

    def openapi(self, routes: Iterable[BaseRoute] | None = None) -> dict[str, Any]:
        return build_openapi(
            self.routes() if routes is None else routes,
            title="commerce-kernel API",
            version=__version__,
            plugins=[{"name": p.info.name, "version": p.info.version} for p in self.plugins],
        )

    # --- running --------------------------------------------------------------------------

    async def start(self, *, run_cron: bool | None = None) -> None:
        """Open Redis, queue and pub/sub, then run the plugins' start-up hooks."""
        if self.started:
            return
        self.tokens  # noqa: B018  (a missing SECRET_KEY fails here, not on the first request)
        refuse_mail_to_log(self.settings, self.mailer)
        if self.redis is not None:
            await self.redis.ping()
        await self.pubsub.start()
        # Every process announces the account changes it commits (logout, password change,
        # deactivation), so other processes end those customer tokens at once.
        token_states(self)
        await self.queue.start(
            self, run_cron=not self.settings.redis_url if run_cron is None else run_cron
        )
        await self.hooks.call(hookspecs.startup, kernel=self)
        self.started = True

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        try:
            await self.hooks.call(hookspecs.shutdown, kernel=self)
        finally:
            await self._close_state()
            await self.queue.stop()
            await self.mailer.aclose()  # after the queue: its last jobs may still send
            await self.pubsub.stop()
            if self.redis is not None:
                await self.redis.aclose()
            await self.db.dispose()

    async def _close_state(self) -> None:
        for key, value in list(self.state.items()):
            close = getattr(value, "aclose", None)
            if close is None:
                continue
            try:
                await close()
            except Exception:
                logger.exception("closing %s failed", key)
            del self.state[key]

    @asynccontextmanager
    async def running(self, *, run_cron: bool | None = None) -> AsyncIterator[Kernel]:
        await self.start(run_cron=run_cron)
        try:
            yield self
        finally:
            await self.stop()
