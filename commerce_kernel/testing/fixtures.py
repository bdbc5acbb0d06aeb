"""The `commerce` pytest plugin (entry point `pytest11`): the fixtures a plugin's tests use.

Choose the plugins under test with a `commerce_plugins` fixture (their requirements are added);
nothing installed is loaded unless asked for. The backend comes from the environment:
`COMMERCE_TEST_DATABASE_URL` (a MariaDB server URL, e.g. `mysql://root@127.0.0.1:3306/`;
unset = a SQLite file) and `COMMERCE_TEST_REDIS_URL` (unset = in-process queue and pub/sub).
Cron jobs never fire by the clock in tests: `await run_cron("plugin.job")` runs one.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import pytest_asyncio

from commerce_kernel.events import redeliver
from commerce_kernel.kernel import Kernel
from commerce_kernel.plugins import installed_plugins, with_requirements
from commerce_kernel.tasks import TaskContext
from commerce_kernel.testing.backends import Backend, backend_urls, free_port
from commerce_kernel.testing.browser import launched_browser
from commerce_kernel.testing.clients import SignedIn, client_of, sign_in
from commerce_kernel.testing.deployments import Deployment, Deployments
from commerce_kernel.testing.processes import ServerProcess, start_process
from commerce_kernel.testing.servers import serve_app
from commerce_kernel.testing.smtp import SMTPSink
from commerce_kernel.testing.statements import record_statements


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    """Override to choose the plugins under test (requirements are added for you)."""
    return []


@pytest.fixture(scope="session")
def commerce_extra_plugins() -> list[ModuleType]:
    """Plugin modules to load without installing them (a plugin's own test plugins)."""
    return []


@pytest.fixture(scope="session")
def commerce_settings() -> dict[str, str]:
    """Extra settings (environment-style names) for the deployment under test."""
    return {}


@pytest.fixture(scope="session")
def commerce_backend() -> Backend:
    """The servers deployments run on: by default the run's (`COMMERCE_TEST_DATABASE_URL`,
    `COMMERCE_TEST_REDIS_URL`). Override it in a conftest to run a directory's tests on other
    servers (private ones a fault test may stop and start); spawned processes get its URLs
    too. An override that stops its servers at the end first closes the deployments on them:
    `await _commerce_deployments.close(backend)`."""
    return Backend.from_environment()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _commerce_deployments() -> AsyncIterator[Deployments]:
    tmp = Path(tempfile.mkdtemp(prefix="commerce-test-"))
    deployments = Deployments(tmp)
    try:
        yield deployments
    finally:
        await deployments.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def deployment(
    _commerce_deployments: Deployments,
    commerce_plugins: list[str],
    commerce_settings: dict[str, str],
    commerce_extra_plugins: list[ModuleType],
    commerce_backend: Backend,
) -> AsyncIterator[Deployment]:
    """A migrated, started deployment of the chosen plugins; emptied after each test."""
    dep = await _commerce_deployments.get(
        with_requirements(commerce_plugins, commerce_extra_plugins),
        commerce_settings,
        commerce_extra_plugins,
        commerce_backend,
    )
    try:
        yield dep
    finally:
        try:
            # A job a killed worker held stays queued until arq's in-progress key expires
            # (its timeout + 15 s): wait that long, and empty the tables even if it times out,
            # so the next test starts blank either way.
            await dep.kernel.queue.drain(timeout=90)
        finally:
            await dep.clean()
            # A session holds many deployments: none keeps idle connections between its
            # tests (a MariaDB server takes 151 by default, and spawned servers need theirs).
            await dep.kernel.db.dispose()


@pytest.fixture
def kernel(deployment: Deployment) -> Kernel:
    return deployment.kernel


@pytest.fixture
def app(deployment: Deployment) -> Any:
    return deployment.app


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous HTTP client of the app (in-process ASGI)."""
    async with client_of(app) as c:
        yield c


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
def mailbox(kernel: Kernel) -> list[EmailMessage]:
    """Messages the deployment sent (when no EMAIL_HOST is configured)."""
    return kernel.mailer.sent


@pytest.fixture
def run_tasks(kernel: Kernel) -> Callable[..., Awaitable[None]]:
    """`await run_tasks()`: run every queued task (and its retries) to the end."""
    return kernel.queue.drain


@pytest.fixture
def run_cron(kernel: Kernel) -> Callable[[str], Awaitable[None]]:
    """`await run_cron("orders.purge_idempotency_keys")`: run one cron job now, as its
    schedule would (cron never fires by the clock in tests)."""
    return kernel.queue.run_cron_job


@pytest.fixture
def redeliver_events(kernel: Kernel) -> Callable[[], Awaitable[int]]:
    """`await redeliver_events()`: what the `kernel.redeliver_events` cron job does for
    deliveries of any age, so a test can lose a durable event's task (a crash between commit
    and the task, Redis down) and see it delivered anyway. Returns how many were queued."""

    async def run() -> int:
        return await redeliver(TaskContext(kernel, "cron:kernel.redeliver_events", 1), older_than=0)

    return run


@pytest.fixture
def sql_statements(kernel: Kernel) -> Callable[[], contextlib.AbstractContextManager[list[str]]]:
    """`with sql_statements() as seen: await client.get(...)`: the SQL statements the
    request sent (in this task: not those of background work it started), COMMIT and
    ROLLBACK included, to hold a hot path to its round trips."""
    return lambda: record_statements(*kernel.db.engines)


@pytest.fixture
def listen(kernel: Kernel) -> Iterator[Callable[[object], None]]:
    """`listen(obj)`: register an object's `@hookimpl` methods as a plugin for this test
    only (a listener that records what a hook was called with); removed afterwards."""
    names: list[str] = []

    def add(namespace: object) -> None:
        name = f"test-listener-{len(names)}"
        kernel.hooks.register(namespace, name)
        names.append(name)

    yield add
    for name in names:
        kernel.hooks.unregister(name)


@pytest_asyncio.fixture(loop_scope="session")
async def smtp_server() -> AsyncIterator[SMTPSink]:
    sink = SMTPSink()
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def spawn(
    deployment: Deployment, request: pytest.FixtureRequest
) -> Iterator[Callable[..., ServerProcess]]:
    """`spawn("serve")` / `spawn("worker")`: real processes on this test's database and Redis.
    Servers get a free port; every process is stopped after the test. When the test failed,
    each process's output is printed (it shows in the report's captured teardown output)."""
    procs: list[ServerProcess] = []
    # Plugins handed over as modules (commerce_extra_plugins) cannot be named to a subprocess.
    installed = installed_plugins()
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
    failed = request.node.stash.get(_CALL_FAILED, False)
    for p in procs:
        p.stop()
        if failed:
            args = p.proc.args if isinstance(p.proc.args, list) else [p.proc.args]
            command = " ".join(str(a) for a in args[1:])
            print(f"--- output of `commerce {command}` ---\n{p.output()[-20000:]}")
        with contextlib.suppress(OSError):
            p.log.unlink()


@pytest.fixture
def multiprocess(kernel: Kernel) -> None:
    """Request it to skip a test unless the run has MariaDB + Redis: several real `commerce
    serve` processes (`spawn`) share no SQLite file and no in-process queue or pub/sub."""
    if not kernel.settings.redis_url or kernel.settings.embedded:
        pytest.skip(
            "real `commerce serve` processes need MariaDB + Redis: set "
            "COMMERCE_TEST_DATABASE_URL and COMMERCE_TEST_REDIS_URL"
        )


@pytest_asyncio.fixture(loop_scope="session")
async def live_server(deployment: Deployment) -> AsyncIterator[str]:
    """The app served by a real uvicorn in this event loop (for WebSocket clients): its URL."""
    async with serve_app(deployment.app) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    """A headless chromium (Debian's, driven by Playwright) for this test: open a watched
    page with `commerce_kernel.testing.open_page(browser, live_server)`. Skipped without the
    browser, failed under `CI=true`."""
    async with launched_browser() as launched:
        yield launched


def pytest_report_header(config: pytest.Config) -> str:
    db, redis = backend_urls()
    return (
        f"commerce backend: database={'MariaDB/MySQL' if db else 'SQLite'}, "
        f"queue/pubsub={'Redis' if redis else 'in-process'}"
    )
