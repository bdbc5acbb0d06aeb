"""What the fault tests break and measure: a private `mariadbd` and `redis-server` (their own
ports and data directories, so stopping them touches nothing shared), an SMTP server that can
hold mail mid-transaction, and a load of concurrent orders from a real HTTP client."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from commerce_kernel.identity import CUSTOMER, create_account
from commerce_kernel.testing import SMTPSink, free_port

MARIADBD = "/usr/sbin/mariadbd"

FAULT_RUN = bool(os.environ.get("COMMERCE_TEST_DATABASE_URL"))
NOT_FAULT_RUN = (
    "fault tests run on the MariaDB + Redis run (COMMERCE_TEST_DATABASE_URL set): they stop "
    "and start a private mariadbd and redis-server and kill real server processes"
)


def missing_binaries() -> list[str]:
    """The server programs this machine lacks (the fault tests need all of them)."""
    wanted = {"mariadbd": MARIADBD, "mariadb-install-db": None, "redis-server": None}
    missing = []
    for name, path in wanted.items():
        found = path if path and os.access(path, os.X_OK) else shutil.which(name)
        if not found:
            missing.append(name)
    return missing


class PrivateServer:
    """A server process this test run owns: started, stopped (SIGTERM, waited for) and
    started again on the same port and data directory."""

    name = "server"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.log = root / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60) -> None:
        assert not self.running, f"{self.name} is already running"
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                self.argv(), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while not self._accepts():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise RuntimeError(f"{self.name} did not start:\n{self.output()[-4000:]}")
            time.sleep(0.05)

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class PrivateMariaDB(PrivateServer):
    """`mariadbd` on a free loopback port with a data directory of its own; root, no password."""

    name = "mariadbd"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.datadir = root / "data"
        install = ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}"]
        install += ["--auth-root-authentication-method=normal", "--skip-test-db"]
        if os.geteuid() == 0:
            install.append("--user=root")
        done = subprocess.run(install, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{done.stdout}\n{done.stderr}")

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/"

    def argv(self) -> list[str]:
        argv = [
            MARIADBD,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.root / 'mariadbd.sock'}",
            f"--pid-file={self.root / 'mariadbd.pid'}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--max-connections=500",
            "--innodb-buffer-pool-size=64M",
        ]
        if os.geteuid() == 0:
            argv.append("--user=root")
        return argv


class PrivateRedis(PrivateServer):
    """`redis-server` on a free loopback port, keeping nothing on disk: a restart comes back
    empty, as a Redis without persistence does (queued jobs are lost with it)."""

    name = "redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        return [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.root),
        ]


@dataclass
class PrivateServices:
    """The pair a fault test may stop and start."""

    mariadb: PrivateMariaDB
    redis: PrivateRedis

    def stop(self) -> None:
        self.redis.stop()
        self.mariadb.stop()


class HoldingSMTPSink(SMTPSink):
    """The test kit's SMTP server, able to hold mail mid-transaction: after `hold_after(n)`
    the n first messages go through and every later one waits at RCPT TO (before DATA, so
    nothing of it has been accepted) until `release()`. `held` counts who is waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.admitted = 0
        self.admit: int | None = None
        self.held = 0
        self._open = asyncio.Event()
        self._open.set()

    def hold_after(self, n: int) -> None:
        self.admit = n
        self._open.clear()

    def release(self) -> None:
        self.admit = None
        self._open.set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.admit is not None and self.admitted >= self.admit:
            self.held += 1
            try:
                await self._open.wait()
            finally:
                self.held -= 1
        else:
            self.admitted += 1
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def confirmations(self) -> dict[int, int]:
        """Order id → how many confirmation messages of it arrived."""
        counts: dict[int, int] = {}
        for m in self.messages:
            subject = str(m["Subject"])
            if subject.startswith("Your order #") and subject.endswith(" is confirmed"):
                order_id = int(subject.removeprefix("Your order #").split()[0])
                counts[order_id] = counts.get(order_id, 0) + 1
        return counts


async def customer_tokens(kernel: Any, n: int, tag: str) -> list[str]:
    """n customer accounts, created directly, and an access token for each."""
    async with kernel.db.transaction() as session:
        accounts = [await create_account(session, f"{tag}{i}@example.com") for i in range(n)]
    return [kernel.tokens.access_token(a.id, CUSTOMER)[0] for a in accounts]


@dataclass
class Outcome:
    """What one client saw for one order request (retries with the same key included)."""

    key: str
    token: str
    status: int | None = None  # the last answer's status; None: no answer (connection error)
    order_id: int | None = None
    body: Any = None
    error: str | None = None
    seconds: float = 0.0


class OrderLoad:
    """Concurrent clients placing one-unit orders of one product, round robin over servers,
    each request with its own Idempotency-Key, until `stop()` or `n` requests."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        urls: Sequence[str],
        tokens: Sequence[str],
        product_id: int,
    ) -> None:
        self.http = http
        self.urls = list(urls)
        self.tokens = list(tokens)
        self.product_id = product_id
        self.outcomes: list[Outcome] = []
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def place(self, outcome: Outcome, url: str) -> Outcome:
        started = time.monotonic()
        try:
            r = await self.http.post(
                f"{url}/api/orders/",
                json={"items": [{"product_id": self.product_id, "quantity": 1}]},
                headers={
                    "Authorization": f"Bearer {outcome.token}",
                    "Idempotency-Key": outcome.key,
                },
            )
        except httpx.HTTPError as exc:
            outcome.status, outcome.error = None, f"{type(exc).__name__}: {exc}"
        else:
            outcome.status, outcome.error = r.status_code, None
            outcome.body = r.json() if r.content else None
            if r.status_code in (200, 201):
                outcome.order_id = int(outcome.body["id"])
        outcome.seconds = time.monotonic() - started
        return outcome

    async def run(self, n: int, concurrency: int, pause: float = 0.0) -> list[Outcome]:
        counter = iter(range(n))

        async def client(c: int) -> None:
            for i in counter:
                if self._stopping.is_set():
                    return
                token = self.tokens[i % len(self.tokens)]
                outcome = Outcome(key=f"load-{uuid.uuid4().hex}", token=token)
                self.outcomes.append(outcome)
                await self.place(outcome, self.urls[(i + c) % len(self.urls)])
                if pause:
                    await asyncio.sleep(pause)

        await asyncio.gather(*(client(c) for c in range(concurrency)))
        return self.outcomes

    def statuses(self) -> dict[int | None, int]:
        counts: dict[int | None, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return counts
