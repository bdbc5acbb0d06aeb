"""The test kit (pytest plugin `commerce`): an app, a database per backend, signed-in clients,
a captured mailbox, a task runner, a real SMTP server and real server processes.

Choose the plugins under test with a `commerce_plugins` fixture (their requirements are added);
nothing installed is loaded unless asked for. The backend comes from the environment:
`COMMERCE_TEST_DATABASE_URL` (a MariaDB server URL, e.g. `mysql://root@127.0.0.1:3306/`;
unset = a SQLite file) and `COMMERCE_TEST_REDIS_URL` (unset = in-process queue and pub/sub).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import delete

from commerce_kernel.app import Kernel, create_app
from commerce_kernel.db import metadata
from commerce_kernel.identity import ADMIN, CUSTOMER, Account, create_account
from commerce_kernel.mail import Mailer
from commerce_kernel.plugins import _installed_entry_points, load_plugins
from commerce_kernel.settings import Settings

_counter = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backend_urls() -> tuple[str | None, str | None]:
    return os.environ.get("COMMERCE_TEST_DATABASE_URL") or None, os.environ.get(
        "COMMERCE_TEST_REDIS_URL"
    ) or None


def with_requirements(names: Sequence[str]) -> list[str]:
    """The named plugins plus everything they require, transitively."""
    eps = _installed_entry_points()
    out: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out or name == "kernel":
            continue
        out.append(name)
        if name in eps:
            info = getattr(eps[name].load(), "plugin", None)
            todo.extend(getattr(info, "requires", ()))
    return out


class CapturingMailer(Mailer):
    """Keeps every message in memory (the `mailbox` fixture)."""

    async def deliver(self, msg: Any) -> None:
        self.sent.append(msg)


@dataclass
class TestDatabase:
    """A throwaway database: a SQLite file or a fresh MariaDB database."""

    url: str
    drop: Callable[[], Awaitable[None]] | None = None


async def create_test_database(tmpdir: Path) -> TestDatabase:
    server, _ = backend_urls()
    if not server:
        return TestDatabase(f"sqlite:///{tmpdir / f'test{next(_counter)}.db'}")
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from commerce_kernel.db import create_engine

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


@dataclass
class Deployment:
    """One migrated database with a started kernel, shared by the tests of one plugin set."""

    kernel: Kernel
    database: TestDatabase
    env: dict[str, str] = field(default_factory=dict)
    app: Any = None
    tables: set[str] = field(default_factory=set)  # what the migrations created

    async def clean(self) -> None:
        """Empty every table (not the schema) and Redis, so each test starts blank."""
        async with self.kernel.db.transaction() as session:
            for table in reversed(metadata.sorted_tables):
                if table.name in self.tables:
                    await session.execute(delete(table))
        if self.kernel.redis is not None:
            # Only this run's keys: other test runs may share the Redis database.
            prefix = self.kernel.settings.redis_prefix
            keys = [k async for k in self.kernel.redis.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await self.kernel.redis.delete(*keys)
        else:
            self.kernel.limiter._windows.clear()
        self.kernel.mailer.sent.clear()


async def _table_names(kernel: Kernel) -> set[str]:
    from sqlalchemy import inspect as sa_inspect

    async with kernel.db.engine.connect() as conn:
        return await conn.run_sync(lambda c: set(sa_inspect(c).get_table_names()))


def deployment_env(
    database_url: str, redis_url: str | None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "TASK_RETRY_DELAY": "0.05",
        "LOG_LEVEL": "WARNING",
        "REDIS_PREFIX": f"ct{os.getpid()}:{next(_counter)}:",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra or {})
    return env


class _Deployments:
    def __init__(self, tmpdir: Path) -> None:
        self.tmpdir = tmpdir
        self.items: dict[tuple[Any, ...], Deployment] = {}

    async def get(
        self, plugins: Sequence[str], overrides: dict[str, str], extra_plugins: Sequence[Any]
    ) -> Deployment:
        key = (tuple(plugins), tuple(sorted(overrides.items())), tuple(map(id, extra_plugins)))
        if key in self.items:
            return self.items[key]
        from commerce_kernel.migrations_runner import upgrade

        database = await create_test_database(self.tmpdir)
        _, redis_url = backend_urls()
        env = deployment_env(database.url, redis_url, overrides)
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
        dep = Deployment(kernel, database, env, app, tables)
        self.items[key] = dep
        return dep

    async def close(self) -> None:
        for dep in self.items.values():
            await dep.kernel.stop()
            if dep.database.drop is not None:
                await dep.database.drop()
        self.items.clear()


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    """Override to choose the plugins under test (requirements are added for you)."""
    return []


@pytest.fixture(scope="session")
def commerce_extra_plugins() -> list[Any]:
    """Plugin modules to load without installing them (a plugin's own test plugins)."""
    return []


@pytest.fixture(scope="session")
def commerce_settings() -> dict[str, str]:
    """Extra settings (environment-style names) for the deployment under test."""
    return {}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _commerce_deployments() -> AsyncIterator[_Deployments]:
    tmp = Path(tempfile.mkdtemp(prefix="commerce-test-"))
    deployments = _Deployments(tmp)
    try:
        yield deployments
    finally:
        await deployments.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def deployment(
    _commerce_deployments: _Deployments,
    commerce_plugins: list[str],
    commerce_settings: dict[str, str],
    commerce_extra_plugins: list[Any],
) -> AsyncIterator[Deployment]:
    """A migrated, started deployment of the chosen plugins; emptied after each test."""
    dep = await _commerce_deployments.get(
        with_requirements(commerce_plugins), commerce_settings, commerce_extra_plugins
    )
    try:
        yield dep
    finally:
        await dep.kernel.queue.drain(timeout=30)
        await dep.clean()


@pytest.fixture
def kernel(deployment: Deployment) -> Kernel:
    return deployment.kernel


@pytest.fixture
def app(deployment: Deployment) -> Any:
    return deployment.app


def _client(app: Any, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost", headers=headers
    )


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous HTTP client of the app (in-process ASGI)."""
    async with _client(app) as c:
        yield c


@dataclass
class SignedIn:
    account: Account
    client: httpx.AsyncClient
    access_token: str
    refresh_token: str

    @property
    def id(self) -> int:
        return self.account.id


async def sign_in(
    kernel: Kernel, app: Any, email: str, *, admin: bool = False, name: str = ""
) -> SignedIn:
    """An account (created if needed) with a client carrying its token."""
    from commerce_kernel.identity import account_by_email

    async with kernel.db.transaction() as session:
        account = await account_by_email(session, email)
        if account is None:
            account = await create_account(session, email, name, is_admin=admin)
        pair = await kernel.tokens.issue(session, account.id, ADMIN if admin else CUSTOMER)
    return SignedIn(account, _client(app, pair.access_token), pair.access_token, pair.refresh_token)


@pytest_asyncio.fixture(loop_scope="session")
async def customer(kernel: Kernel, app: Any) -> AsyncIterator[SignedIn]:
    """A customer account and a client carrying its customer token (`customer.client`)."""
    signed = await sign_in(kernel, app, "customer@example.com", name="Casey Customer")
    async with signed.client:
        yield signed


@pytest_asyncio.fixture(loop_scope="session")
async def admin(kernel: Kernel, app: Any) -> AsyncIterator[SignedIn]:
    """An admin account and a client carrying its admin token (`admin.client`)."""
    signed = await sign_in(kernel, app, "admin@example.com", admin=True, name="Ada Admin")
    async with signed.client:
        yield signed


@pytest.fixture
def customer_client(customer: SignedIn) -> httpx.AsyncClient:
    return customer.client


@pytest.fixture
def admin_client(admin: SignedIn) -> httpx.AsyncClient:
    return admin.client


@pytest.fixture
def make_customer(kernel: Kernel, app: Any) -> Callable[[str], Awaitable[SignedIn]]:
    """`await make_customer("x@example.com")` → another signed-in customer."""
    return lambda email, **kw: sign_in(kernel, app, email, **kw)


@pytest.fixture
def mailbox(kernel: Kernel) -> list[Any]:
    """Messages the deployment sent (when no EMAIL_HOST is configured)."""
    return kernel.mailer.sent


@pytest.fixture
def run_tasks(kernel: Kernel) -> Callable[..., Awaitable[None]]:
    """`await run_tasks()`: run every queued task (and its retries) to the end."""
    return kernel.queue.drain


# --- a real SMTP server -----------------------------------------------------------------


class SMTPSink:
    """A real SMTP server (aiosmtpd) on a free loopback port, keeping what it receives.
    `refuse(n)` makes it answer the next n messages with a temporary failure (451)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refusals = 0
        self.attempts = 0
        self.port = 0
        self._server: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.refusals > 0:
            self.refusals -= 1
            return "451 Try again later"
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def refuse(self, n: int) -> None:
        self.refusals = n

    async def start(self) -> None:
        from aiosmtpd.smtp import SMTP

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="localhost"), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
            await asyncio.sleep(0.05)
        return self.messages

    @property
    def settings(self) -> dict[str, str]:
        return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(self.port), "EMAIL_USE_TLS": "false"}


@pytest_asyncio.fixture(loop_scope="session")
async def smtp_server() -> AsyncIterator[SMTPSink]:
    sink = SMTPSink()
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


# --- real server processes --------------------------------------------------------------


@dataclass
class ServerProcess:
    """`commerce serve` or `commerce worker` running in a subprocess."""

    proc: subprocess.Popen[bytes]
    port: int | None
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _commerce_bin() -> str:
    return str(Path(sys.executable).with_name("commerce"))


def start_process(
    args: Sequence[str],
    env: dict[str, str],
    *,
    port: int | None = None,
    cwd: str | None = None,
    wait_ready: bool = True,
) -> ServerProcess:
    log = Path(tempfile.mkstemp(prefix="commerce-proc-", suffix=".log")[1])
    full_env = {**os.environ, **env}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [_commerce_bin(), *args],
            env=full_env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
    server = ServerProcess(proc, port, log)
    if port is not None and wait_ready:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.output()}")
            try:
                if httpx.get(f"{server.url}/api/health/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"server did not start:\n{server.output()}")
            time.sleep(0.1)
    return server


@pytest.fixture
def spawn(deployment: Deployment) -> Iterator[Callable[..., ServerProcess]]:
    """`spawn("serve")` / `spawn("worker")`: real processes on this test's database and Redis.
    Servers get a free port; every process is stopped after the test."""
    procs: list[ServerProcess] = []
    # Plugins handed over as modules (commerce_extra_plugins) cannot be named to a subprocess.
    installed = _installed_entry_points()
    plugins = ",".join(p for p in deployment.kernel.plugin_names if p in installed) or "kernel"

    def start(kind: str, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
        penv = {**deployment.env, "COMMERCE_PLUGINS": plugins, **(env or {})}
        if kind == "serve":
            port = free_port()
            p = start_process(["serve", "--port", str(port), *extra], penv, port=port)
        else:
            p = start_process([kind, *extra], penv)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()
        with contextlib.suppress(OSError):
            p.log.unlink()


@contextlib.asynccontextmanager
async def serve_app(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """Serve any ASGI app with a real uvicorn in this event loop: a fake third-party service
    (a JWKS endpoint, a payment provider) or the deployment itself. Yields its base URL."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the signals belong to the test runner

    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
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


@pytest_asyncio.fixture(loop_scope="session")
async def live_server(deployment: Deployment) -> AsyncIterator[str]:
    """The app served by a real uvicorn in this event loop (for WebSocket clients): its URL."""
    async with serve_app(deployment.app) as url:
        yield url


def pytest_report_header(config: pytest.Config) -> str:
    db, redis = backend_urls()
    return (
        f"commerce backend: database={'MariaDB/MySQL' if db else 'SQLite'}, "
        f"queue/pubsub={'Redis' if redis else 'in-process'}"
    )
