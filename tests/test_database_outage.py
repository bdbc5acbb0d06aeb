"""Losing the database answers 503 problem+json at once and recovers when it returns."""

import asyncio

import httpx
import pytest
from sqlalchemy.engine import make_url

from commerce_kernel import Kernel, create_app
from commerce_kernel.plugins import load_plugins
from commerce_kernel.settings import Settings
from tests.helpers import probe


@pytest.fixture(scope="session")
def commerce_extra_plugins():
    return [probe]


class TCPProxy:
    """Forwards a loopback port to the database; `cut()` drops every connection and refuses
    new ones, as a crashed or unreachable server would; `restore()` brings it back."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src, dst) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    async def restore(self) -> None:
        await self.start(self.port)


async def test_database_loss_is_503_and_recovers(deployment):
    if not deployment.kernel.db.is_mysql:
        pytest.skip("needs a database server to lose (the MariaDB + Redis run)")
    url = make_url(deployment.kernel.settings.database_url)
    proxy = TCPProxy(url.host or "127.0.0.1", url.port or 3306)
    await proxy.start()
    env = {k.lower(): v for k, v in deployment.env.items()}
    env["database_url"] = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )
    settings = Settings(**env, db_timeout=2)
    kernel = Kernel(settings, load_plugins(["kernel", "probe"], (), [probe]))
    app = create_app(kernel=kernel)
    await kernel.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        ) as c:
            assert (await c.get("/api/probe/db/")).json() == {"one": 1}
            await proxy.cut()
            for path in ("/api/probe/db/", "/api/ready/"):
                r = await asyncio.wait_for(c.get(path), 10)
                assert r.status_code == 503, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                assert "Retry-After" in r.headers
            assert (await c.get("/api/health/")).status_code == 200  # the process still runs
            await proxy.restore()
            r = await asyncio.wait_for(c.get("/api/probe/db/"), 10)
            assert r.status_code == 200 and r.json() == {"one": 1}
            assert (await c.get("/api/ready/")).status_code == 200
    finally:
        await kernel.stop()
        await proxy.cut()


@pytest.mark.parametrize("code", [1040, 1203])
def test_a_server_taking_no_more_connections_is_a_503_not_a_500(code):
    import pymysql
    from sqlalchemy.exc import OperationalError

    from commerce_kernel.db import is_disconnect

    error = OperationalError("SELECT 1", {}, pymysql.err.OperationalError(code, "Too many"))
    assert is_disconnect(error)
    assert not is_disconnect(
        OperationalError("SELECT 1", {}, pymysql.err.OperationalError(1064, "syntax"))
    )
