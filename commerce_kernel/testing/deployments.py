"""Test deployments: a migrated database with a started kernel per plugin set and backend,
shared by the tests that ask for that set and emptied after each test (the rows its migrations
wrote are put back)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy import inspect as sa_inspect
from starlette.applications import Starlette

from commerce_kernel.app import create_app
from commerce_kernel.db import metadata
from commerce_kernel.kernel import Kernel
from commerce_kernel.mail import Mailer
from commerce_kernel.migrations_runner import upgrade
from commerce_kernel.plugins import load_plugins
from commerce_kernel.settings import Settings
from commerce_kernel.testing.backends import (
    Backend,
    TestDatabase,
    create_test_database,
    deployment_env,
)


class CapturingMailer(Mailer):
    """Keeps every message in memory (the `mailbox` fixture)."""

    async def deliver(self, msg: Any) -> None:
        self.sent.append(msg)


@dataclass
class Deployment:
    """One migrated database with a started kernel, shared by the tests of one plugin set."""

    kernel: Kernel
    database: TestDatabase
    env: dict[str, str] = field(default_factory=dict)
    app: Starlette | None = None
    tables: set[str] = field(default_factory=set)  # what the migrations created
    # The rows the migrations wrote (a plugin's one-row tables), put back by `clean`.
    seeded: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)
    backend: Backend = field(default_factory=Backend)  # the servers it runs on

    async def clean(self) -> None:
        """Empty every table (not the schema) and Redis, so each test starts as on a freshly
        migrated database: blank but for the rows the migrations wrote."""
        async with self.kernel.db.transaction() as session:
            for table in reversed(metadata.sorted_tables):
                if table.name in self.tables:
                    await session.execute(delete(table))
            for table, rows in self.seeded.items():
                await session.execute(insert(table), rows)
        if self.kernel.redis is not None:
            # Only this run's keys: other test runs may share the Redis database.
            prefix = self.kernel.settings.redis_prefix
            keys = [k async for k in self.kernel.redis.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await self.kernel.redis.delete(*keys)
        await self.kernel.pubsub.forget_versions()  # ids start again in the emptied tables
        await self.kernel.limiter.clear()
        self.kernel.mailer.sent.clear()


async def _table_names(kernel: Kernel) -> set[str]:
    async with kernel.db.engine.connect() as conn:
        return await conn.run_sync(lambda c: set(sa_inspect(c).get_table_names()))


async def _seeded(kernel: Kernel, tables: set[str]) -> dict[Table, list[dict[str, Any]]]:
    """The rows of each table right after the migrations, in the order to insert them."""
    seeded: dict[Table, list[dict[str, Any]]] = {}
    async with kernel.db.session() as session:
        for table in metadata.sorted_tables:
            if table.name in tables:
                rows = (await session.execute(select(table))).mappings().all()
                if rows:
                    seeded[table] = [dict(row) for row in rows]
    return seeded


class Deployments:
    def __init__(self, tmpdir: Path) -> None:
        self.tmpdir = tmpdir
        self.items: dict[tuple[Any, ...], Deployment] = {}

    async def get(
        self,
        plugins: Sequence[str],
        overrides: dict[str, str],
        extra_plugins: Sequence[Any],
        backend: Backend | None = None,
    ) -> Deployment:
        backend = backend or Backend.from_environment()
        key = (
            tuple(plugins),
            tuple(sorted(overrides.items())),
            tuple(map(id, extra_plugins)),
            backend,
        )
        if key in self.items:
            return self.items[key]
        database = await create_test_database(self.tmpdir, backend)
        env = deployment_env(database.url, backend.redis_url, overrides)
        settings = Settings(**{k.lower(): v for k, v in env.items()})  # type: ignore[arg-type]
        names = ["kernel", *plugins, *[m.plugin.name for m in extra_plugins]]
        loaded = load_plugins(names, (), extra_plugins)
        kernel = Kernel(settings, loaded, overrides=env)
        kernel.mailer = (
            CapturingMailer(settings.default_from_email)
            if not settings.email_host
            else kernel.mailer
        )
        await upgrade(kernel)
        tables = await _table_names(kernel)
        app = create_app(kernel=kernel)
        # Cron jobs would fire at wall-clock times in the middle of tests; tests call the
        # job functions (or spawn a worker) when they mean to.
        await kernel.start(run_cron=False)
        seeded = await _seeded(kernel, tables)
        dep = Deployment(kernel, database, env, app, tables, seeded=seeded, backend=backend)
        self.items[key] = dep
        return dep

    async def close(self, backend: Backend | None = None) -> None:
        """Stop the deployments (only those on `backend` when given) and drop their databases."""
        for key, dep in list(self.items.items()):
            if backend is not None and dep.backend != backend:
                continue
            del self.items[key]
            await dep.kernel.stop()
            if dep.database.drop is not None:
                await dep.database.drop()
