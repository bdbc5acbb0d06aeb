"""The backend a test run uses (SQLite or MariaDB, in-process or Redis), throwaway databases
and the settings of a test deployment."""

from __future__ import annotations

import itertools
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from commerce_kernel.db import create_engine

_counter = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backend_urls() -> tuple[str | None, str | None]:
    return os.environ.get("COMMERCE_TEST_DATABASE_URL") or None, os.environ.get(
        "COMMERCE_TEST_REDIS_URL"
    ) or None


@dataclass(frozen=True)
class Backend:
    """The servers test deployments run on: a MariaDB/MySQL server URL (None: a SQLite file
    per deployment) and a Redis URL (None: in-process queue and pub/sub)."""

    database_url: str | None = None
    redis_url: str | None = None

    @classmethod
    def from_environment(cls) -> Backend:
        """`COMMERCE_TEST_DATABASE_URL` and `COMMERCE_TEST_REDIS_URL`, the run's backend."""
        return cls(*backend_urls())


@dataclass
class TestDatabase:
    """A throwaway database: a SQLite file or a fresh MariaDB database."""

    url: str
    drop: Callable[[], Awaitable[None]] | None = None


async def create_test_database(tmpdir: Path, backend: Backend | None = None) -> TestDatabase:
    """A fresh database on the backend's server (default: the run's), or a SQLite file."""
    server = (backend or Backend.from_environment()).database_url
    if not server:
        return TestDatabase(f"sqlite:///{tmpdir / f'test{next(_counter)}.db'}")
    name = f"ck_test_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    base = make_url(server)
    admin_engine = create_engine(base.set(database=None).render_as_string(hide_password=False))
    async with admin_engine.connect() as conn:
        await conn.execute(
            text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )
    await admin_engine.dispose()

    async def drop() -> None:
        eng = create_engine(base.set(database=None).render_as_string(hide_password=False))
        async with eng.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        await eng.dispose()

    return TestDatabase(base.set(database=name).render_as_string(hide_password=False), drop)


def deployment_env(
    database_url: str, redis_url: str | None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        # Spawned `commerce serve`/`worker` processes have no SMTP server: their mail may go
        # to their log (in-process deployments capture it in the `mailbox` fixture).
        "EMAIL_TO_LOG_ALLOWED": "true",
        "TASK_RETRY_DELAY": "0.05",
        "LOG_LEVEL": "WARNING",
        "REDIS_PREFIX": f"ct{os.getpid()}:{next(_counter)}:",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra or {})
    return env
