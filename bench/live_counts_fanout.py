"""live_counts fan-out: 1,000 WebSocket listeners on one `commerce serve` process (and split
across two), time from an order's 201 to each listener's frame, beside a bare Starlette
ceiling broadcasting the same frames to the same listeners in the same run; and the order
path's throughput and latency with and without the listeners.

    .venv/bin/python bench/live_counts_fanout.py [--clients 1000] [--orders 50] \
        [--servers 1 2] [--duration 10] [--concurrency 16] [--client-procs 1]

Needs the live_counts plugin installed and MariaDB + Redis (BENCH_DATABASE_URL, default
mysql://root@127.0.0.1:3306/; BENCH_REDIS_URL, default redis://127.0.0.1:6379/14, with a
prefix of its own that is deleted at the end). A fresh database is created and dropped.

What runs where (2 cores): every server process (ours and the ceiling's) is pinned to CPU 0;
this process (the buyers) and the listener processes (`bench/live_counts_clients.py`) to CPU
1; MariaDB and Redis are not pinned. `--no-pin` leaves everything to the scheduler.

Per server count: (1) 30 orders one at a time with no listener (order latency); then
`--rounds` times: (2) orders for `--duration` s, `--concurrency` in flight, spread over the
products and the servers, no listener; (3) the listeners connect, each following all
`--products` products (`--spread`: one each); (4) first round only: `--orders` orders one at
a time on the first product, `--interval` s apart, to server 0, and each listener's frame
time minus that order's 201 time and minus the time it was sent (CLOCK_MONOTONIC, stamped in
the listeners' process, which places these orders); (5) the throughput run again with the
listeners on; they disconnect. Then the ceiling's processes take the same listeners and the
same one-at-a-time orders (step 4). Frames are matched to orders by their `sold` figure (one
unit per order, one buyer at a time). `--profile DIR` records the first server process with
py-spy during steps 4 and 5 (and the ceiling's during its step 4).

Read "from the 201" with care: a server that fans out before it answers has every frame
before its 201 (negative figures) and a slower 201 instead; "from the POST" counts both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from commerce_kernel import Kernel
from commerce_kernel.identity import CUSTOMER, create_account
from commerce_kernel.migrations_runner import upgrade
from commerce_kernel.plugins import load_plugins, with_requirements
from commerce_kernel.settings import Settings
from commerce_kernel.testing import (
    create_test_database,
    deployment_env,
    free_port,
    start_process,
)

PLUGINS = with_requirements(["live_counts"])
HERE = Path(__file__).resolve().parent
SERVER_CPUS = {0}
CLIENT_CPUS = {1}


def pin(pid: int, cpus: set[int], enabled: bool) -> None:
    """Keep a process (0: this one) on `cpus`, on a machine with more than one."""
    if enabled and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, cpus)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def cpu_use(pids: list[int]) -> Iterator[Callable[[], list[float]]]:
    """Share of one CPU each process used inside the block: `with cpu_use(p) as used: ...`,
    then `used()`."""
    start, t0 = [cpu_seconds(p) for p in pids], time.monotonic()
    shares: list[float] = []
    try:
        yield lambda: shares
    finally:
        elapsed = time.monotonic() - t0
        shares[:] = [(cpu_seconds(p) - s) / elapsed for p, s in zip(pids, start, strict=True)]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return values[max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))]


async def _setup(env: dict[str, str], customers: int, products: int) -> tuple[list[str], list[int]]:
    from commerce_catalog.models import Product

    settings = Settings(**{k.lower(): v for k, v in env.items()})
    kernel = Kernel(settings, load_plugins(["kernel", *PLUGINS]))
    await upgrade(kernel)
    async with kernel.db.transaction() as session:
        accounts = [await create_account(session, f"l{i}@bench.test") for i in range(customers)]
        items = [
            Product(
                sku=f"L-{i}",
                name=f"Live bench product {i}",
                description="",
                price=Decimal("4.99"),
                stock=10_000_000,
                sold_count=0,
                is_active=True,
            )
            for i in range(products)
        ]
        session.add_all(items)
    tokens = [kernel.tokens.access_token(a.id, CUSTOMER)[0] for a in accounts]
    ids = [p.id for p in items]
    await kernel.db.dispose()
    return tokens, ids


# -- servers --------------------------------------------------------------------------------


@dataclass
class Servers:
    """The processes of one target: `commerce serve` ones or the ceiling's."""

    name: str
    urls: list[str]
    procs: list[subprocess.Popen[bytes]]
    logs: list[Path] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @property
    def ws_urls(self) -> list[str]:
        return [u.replace("http://", "ws://") + "/ws/live-counts/" for u in self.urls]

    def stop(self, verbose: bool) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            if verbose and log.exists():
                print(f"--- {log}\n{log.read_text(errors='replace')}", file=sys.stderr)
            log.unlink(missing_ok=True)


def start_ours(env: dict[str, str], n: int, pinned: bool) -> Servers:
    started = []
    for _ in range(n):
        port = free_port()
        started.append(
            start_process(["serve", "--workers", "1", "--port", str(port)], env, port=port)
        )
    for s in started:
        pin(s.proc.pid, SERVER_CPUS, pinned)
    return Servers(
        "ours", [s.url for s in started], [s.proc for s in started], [s.log for s in started]
    )


def start_ceiling(n: int, redis_url: str | None, channel: str, pinned: bool) -> Servers:
    urls, procs = [], []
    for _ in range(n):
        port = free_port()
        cmd = [sys.executable, str(HERE / "live_counts_ceiling.py"), "--port", str(port)]
        if redis_url:
            cmd += ["--redis-url", redis_url, "--channel", channel]
        procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
    for url, proc in zip(urls, procs, strict=True):
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/health/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ceiling at {url} did not start") from None
                time.sleep(0.1)
        pin(proc.pid, SERVER_CPUS, pinned)
    name = "ceiling, via Redis" if redis_url else "ceiling, direct"
    return Servers(name, urls, procs)


# -- listeners ------------------------------------------------------------------------------


class Listeners:
    """`procs` listener processes holding `clients` sockets between them."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.connect_s = 0.0

    async def start(
        self, ws_urls: list[str], clients: int, procs: int, products: list[int], args: Any
    ) -> None:
        share = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
        offset = 0
        for n in share:
            # Rotate the URLs so that the union over processes alternates servers evenly.
            urls = ws_urls[offset % len(ws_urls) :] + ws_urls[: offset % len(ws_urls)]
            cmd = [sys.executable, str(HERE / "live_counts_clients.py"), "--clients", str(n)]
            cmd += [a for u in urls for a in ("--url", u)]
            cmd += ["--subscribe", ",".join(map(str, products)), "--offset", str(offset)]
            if args.spread:
                cmd.append("--spread")
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=2**30
            )
            pin(proc.pid, CLIENT_CPUS, not args.no_pin)
            self.procs.append(proc)
            offset += n
        ready = await asyncio.gather(*(self._read(p) for p in self.procs))
        if sum(r["ready"] for r in ready) != clients:
            raise RuntimeError(f"listeners not ready: {ready}")
        self.connect_s = max(r["connect_s"] for r in ready)

    async def _read(self, proc: asyncio.subprocess.Process) -> dict[str, Any]:
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError(f"listener process exited ({await proc.wait()})")
        result: dict[str, Any] = json.loads(line)
        return result

    async def _ask(self, command: str) -> list[dict[str, Any]]:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(f"{command}\n".encode())
            await p.stdin.drain()
        return list(await asyncio.gather(*(self._read(p) for p in self.procs)))

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    async def order(self, url: str, product: int, token: str) -> dict[str, Any]:
        """One order placed by the first listener process (see live_counts_clients.py)."""
        proc = self.procs[0]
        assert proc.stdin is not None
        proc.stdin.write(f"order {url} {product} {token}\n".encode())
        await proc.stdin.drain()
        return await self._read(proc)

    async def mark(self) -> None:
        await self._ask("mark")

    async def dump(self) -> dict[str, Any]:
        merged: dict[str, Any] = {
            "frames": [],
            "errors": Counter(),
            "closed": Counter(),
            "out_of_order": 0,
            "open": 0,
        }
        for part in await self._ask("dump"):
            merged["frames"].extend(part["frames"])
            merged["errors"].update(part["errors"])
            merged["closed"].update(part["closed"])
            merged["out_of_order"] += part["out_of_order"]
            merged["open"] += part["open"]
        return merged

    async def quit(self) -> None:
        for p in self.procs:
            if p.returncode is None and p.stdin is not None:
                p.stdin.write(b"quit\n")
                await p.stdin.drain()
        for p in self.procs:
            try:
                await asyncio.wait_for(p.wait(), 15)
            except TimeoutError:
                p.kill()
                await p.wait()
        self.procs = []


# -- load -----------------------------------------------------------------------------------


def _order(http: httpx.AsyncClient, url: str, token: str, product: int) -> Any:
    return http.post(
        f"{url}/api/orders/",
        json={"items": [{"product_id": product, "quantity": 1}]},
        headers={"Authorization": f"Bearer {token}"},
    )


async def one_at_a_time(
    listeners: Listeners, url: str, tokens: list[str], product: int, n: int, interval: float
) -> list[tuple[int, int]]:
    """`n` orders of one unit of `product`, one after another, placed from the listeners'
    process: (sent, 201) monotonic ns."""
    times = []
    for i in range(n):
        r = await listeners.order(url, product, tokens[i % len(tokens)])
        if r["status"] != 201:
            raise RuntimeError(f"order {i}: {r['status']} {r['body']}")
        times.append((r["sent"], r["answered"]))
        await asyncio.sleep(interval)
    return times


async def throughput(
    http: httpx.AsyncClient,
    urls: list[str],
    tokens: list[str],
    products: list[int],
    duration: float,
    concurrency: int,
) -> dict[str, Any]:
    """Orders for `duration` s, `concurrency` in flight, spread over servers and products."""
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    per_product: Counter[int] = Counter()
    stop = time.monotonic() + duration
    last_201 = 0

    async def buyer(b: int) -> None:
        nonlocal last_201
        i = b
        while time.monotonic() < stop:
            product = products[i % len(products)]
            t0 = time.monotonic_ns()
            r = await _order(http, urls[i % len(urls)], tokens[b % len(tokens)], product)
            t1 = time.monotonic_ns()
            latencies.append((t1 - t0) / 1e6)
            codes[r.status_code] += 1
            if r.status_code == 201:
                per_product[product] += 1
                last_201 = max(last_201, t1)
            i += concurrency

    start = time.monotonic()
    await asyncio.gather(*(buyer(b) for b in range(concurrency)))
    elapsed = time.monotonic() - start
    latencies.sort()
    return {
        "rate": codes[201] / elapsed,
        "p50": statistics.median(latencies),
        "p99": pct(latencies, 0.99),
        "codes": dict(codes),
        "per_product": per_product,
        "last_201": last_201,
    }


def fanout(
    dump: dict[str, Any], times: list[tuple[int, int]], product: int, before: int, clients: int
) -> dict[str, Any]:
    """Each listener's frame time minus its order's 201 time (and minus the time the order
    was sent), over every (listener, order), in ms: order i (0-based) took the product from
    `before + i` units sold to `before + i + 1`."""
    order_of = {before + i + 1: i for i in range(len(times))}
    arrivals: dict[int, list[int]] = defaultdict(list)
    for f in dump["frames"]:
        if f[1] == product and f[2] in order_of:
            arrivals[order_of[f[2]]].append(f[4])
    expected = clients * len(times)
    if not arrivals:
        return {"n": 0, "expected": expected}
    after_201 = sorted((t - times[i][1]) / 1e6 for i, ts in arrivals.items() for t in ts)
    after_sent = sorted((t - times[i][0]) / 1e6 for i, ts in arrivals.items() for t in ts)
    # With 1,000 frames an order, the p99 over every frame is the worst order or two: on a
    # shared machine, one stall. The median over orders of each order's own p99 is not.
    order_p99 = [
        pct(sorted((t - times[i][0]) / 1e6 for t in ts), 0.99) for i, ts in arrivals.items()
    ]
    return {
        "n": len(after_201),
        "expected": expected,
        "p50": statistics.median(after_201),
        "p99": pct(after_201, 0.99),
        "max": after_201[-1],
        "sent_p50": statistics.median(after_sent),
        "sent_p99": pct(after_sent, 0.99),
        "sent_max": after_sent[-1],
        "order_p99": statistics.median(order_p99),
        "span": statistics.median((max(ts) - min(ts)) / 1e6 for ts in arrivals.values()),
    }


def follows(client: int, product: int, spread: bool, products: list[int]) -> bool:
    return not spread or products[client % len(products)] == product


def drain(
    dump: dict[str, Any],
    run: dict[str, Any],
    final: dict[int, int],
    clients: int,
    spread: bool,
    products: list[int],
) -> dict[str, Any]:
    """After a throughput run with listeners: frames received against the ones the orders
    implied (one per order per follower), listeners that did not end on every final count of
    a product they follow, and when the last frame arrived."""
    last_seen: dict[tuple[int, int], int] = defaultdict(int)  # (client, product) -> max sold
    last_t = 0
    for client, product, sold, _seq, t in dump["frames"]:
        last_seen[(client, product)] = max(last_seen[(client, product)], sold)
        last_t = max(last_t, t)
    ordered = list(run["per_product"])
    implied = sum(
        n * sum(follows(c, p, spread, products) for c in range(clients))
        for p, n in run["per_product"].items()
    )
    behind = {
        c
        for c in range(clients)
        for p in ordered
        if follows(c, p, spread, products) and last_seen.get((c, p), 0) < final[p]
    }
    return {
        "frames": len(dump["frames"]),
        "implied": implied,
        "last_frame_after_last_201_ms": (last_t - run["last_201"]) / 1e6 if last_t else math.nan,
        "listeners_behind": len(behind),
    }


# -- the run --------------------------------------------------------------------------------


@dataclass
class Results:
    fanout: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    orders: list[tuple[int, int, str, dict[str, Any]]] = field(default_factory=list)
    drains: list[tuple[int, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    single: list[tuple[int, float, float]] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)


@dataclass
class Run:
    """What every phase needs: the options, the deployment, the buyers and the products."""

    args: argparse.Namespace
    env: dict[str, str]
    redis_url: str
    channel: str
    tokens: list[str]
    products: list[int]
    http: httpx.AsyncClient
    results: Results

    @property
    def hot(self) -> int:
        return self.products[0]

    async def sold(self, url: str, product: int) -> int:
        r = await self.http.get(f"{url}/api/products/{product}/sold_count/")
        r.raise_for_status()
        return int(r.json()["sold"])

    async def throughput(self, urls: list[str]) -> dict[str, Any]:
        return await throughput(
            self.http, urls, self.tokens, self.products, self.args.duration, self.args.concurrency
        )


async def run_ours(run: Run, n: int) -> None:
    """The phases of the module docstring against `n` `commerce serve` processes."""
    args, res = run.args, run.results
    ours = start_ours(run.env, n, not args.no_pin)
    buyer = Listeners()
    try:
        for i in range(100):  # warm-up: connections, pools, code paths
            await _order(run.http, ours.urls[i % n], run.tokens[0], run.products[-1])
        await buyer.start(ours.ws_urls, 0, 1, run.products, args)  # orders only, no socket
        alone = await one_at_a_time(buyer, ours.urls[0], run.tokens, run.products[-1], 30, 0.05)
        for r in range(args.rounds):
            with cpu_use(ours.pids) as servers_cpu:
                base = await run.throughput(ours.urls)
            res.orders.append((n, r, "no listener", {**base, "cpu": servers_cpu()}))
            listeners = Listeners()
            try:
                await listeners.start(
                    ours.ws_urls, args.clients, args.client_procs, run.products, args
                )
                log(f"ours, {n} server(s): {args.clients} listeners in {listeners.connect_s:.1f} s")
                if r == 0:
                    res.single.append(
                        (n, median_ms(alone), await fanout_phase(run, ours, listeners))
                    )
                await listeners.mark()
                spy = start_profile(ours, args, f"orders-{n}") if r == 0 else None
                with cpu_use(ours.pids) as servers_cpu, cpu_use(listeners.pids) as listeners_cpu:
                    loaded = await run.throughput(ours.urls)
                loaded.update(cpu=servers_cpu(), listeners_cpu=listeners_cpu())
                await asyncio.sleep(args.settle)
                res.profiles += stop_profile(spy)
                final = {p: await run.sold(ours.urls[0], p) for p in run.products}
                dump = await listeners.dump()
            finally:
                await listeners.quit()
            res.orders.append((n, r, f"{args.clients} listeners", loaded))
            res.drains.append(
                (
                    n,
                    drain(dump, loaded, final, args.clients, args.spread, run.products),
                    health(dump),
                )
            )
    finally:
        await buyer.quit()
        ours.stop(args.verbose)


async def fanout_phase(run: Run, ours: Servers, listeners: Listeners) -> float:
    """Orders one at a time with the listeners on: the fan-out figures; returns the orders'
    median latency."""
    args = run.args
    await listeners.mark()
    before = await run.sold(ours.urls[0], run.hot)
    spy = start_profile(ours, args, f"fanout-{len(ours.urls)}")
    times = await one_at_a_time(
        listeners, ours.urls[0], run.tokens, run.hot, args.orders, args.interval
    )
    await asyncio.sleep(args.settle)
    run.results.profiles += stop_profile(spy)
    dump = await listeners.dump()
    stats = fanout(dump, times, run.hot, before, followers(args, run.products, run.hot))
    run.results.fanout.append(("ours", len(ours.urls), {**stats, **health(dump)}))
    return median_ms(times)


async def run_ceiling(run: Run, n: int, relay: str | None) -> None:
    """Phase (4) against `n` ceiling processes, relayed through Redis or not."""
    args = run.args
    ceiling = start_ceiling(n, relay, run.channel, not args.no_pin)
    listeners = Listeners()
    try:
        await listeners.start(ceiling.ws_urls, args.clients, args.client_procs, run.products, args)
        log(
            f"{ceiling.name}, {n} server(s): {args.clients} listeners in {listeners.connect_s:.1f} s"
        )
        for _ in range(20):  # warm-up: the same frames to every listener, another product
            await listeners.order(ceiling.urls[0], run.products[-1], "-")
        await listeners.mark()
        spy = start_profile(ceiling, args, f"ceiling-{'redis' if relay else 'direct'}-{n}")
        times = await one_at_a_time(
            listeners, ceiling.urls[0], run.tokens, run.hot, args.orders, args.interval
        )
        await asyncio.sleep(args.settle)
        run.results.profiles += stop_profile(spy)
        dump = await listeners.dump()
        stats = fanout(dump, times, run.hot, 0, followers(args, run.products, run.hot))
        run.results.fanout.append((ceiling.name, n, {**stats, **health(dump)}))
    finally:
        await listeners.quit()
        ceiling.stop(args.verbose)


async def bench(args: argparse.Namespace) -> None:
    pin(0, CLIENT_CPUS, not args.no_pin)
    os.environ["COMMERCE_TEST_DATABASE_URL"] = os.environ.get(
        "BENCH_DATABASE_URL", "mysql://root@127.0.0.1:3306/"
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    database = await create_test_database(Path(tempfile.mkdtemp()))
    env = deployment_env(
        database.url,
        redis_url,
        {"COMMERCE_PLUGINS": ",".join(PLUGINS), "LOG_LEVEL": "WARNING"},
    )
    results = Results()
    limits = httpx.Limits(max_connections=args.concurrency * 2, keepalive_expiry=2.0)
    try:
        tokens, products = await _setup(env, max(32, args.concurrency), args.products)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            run = Run(
                args,
                env,
                redis_url,
                env["REDIS_PREFIX"] + "ceiling",
                tokens,
                products,
                http,
                results,
            )
            for n in args.servers:
                await run_ours(run, n)
                for relay in [None, redis_url] if n == 1 else [redis_url]:
                    await run_ceiling(run, n, relay)
    finally:
        if database.drop is not None:
            await database.drop()
        await clean_redis(redis_url, env["REDIS_PREFIX"])
    report(args, results)


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def median_ms(times: list[tuple[int, int]]) -> float:
    return statistics.median((b - a) / 1e6 for a, b in times)


def followers(args: argparse.Namespace, products: list[int], product: int) -> int:
    if not args.spread:
        return args.clients
    return sum(1 for i in range(args.clients) if products[i % len(products)] == product)


def health(dump: dict[str, Any]) -> dict[str, Any]:
    return {
        "closed": dict(dump["closed"]),
        "errors": dict(dump["errors"]),
        "out_of_order": dump["out_of_order"],
        "open": dump["open"],
    }


def start_profile(
    servers: Servers, args: argparse.Namespace, name: str
) -> tuple[subprocess.Popen[bytes], str] | None:
    """py-spy on the first server process, with native frames off and idle stacks out."""
    if not args.profile:
        return None
    Path(args.profile).mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    out = str(Path(args.profile) / f"{name}.txt")
    cmd = [spy, "record", "--pid", str(servers.procs[0].pid), "--format", "raw"]
    cmd += ["--rate", "250", "--output", out, "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def stop_profile(spy: tuple[subprocess.Popen[bytes], str] | None) -> list[str]:
    if spy is None:
        return []
    proc, out = spy
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    return [out]


async def clean_redis(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        # arq names its job keys `arq:job:<queue>`, and the queue carries the prefix.
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
        keys += [k async for k in redis.scan_iter(match=f"arq:job:{prefix}*", count=1000)]
        for i in range(0, len(keys), 1000):
            await redis.delete(*keys[i : i + 1000])
    finally:
        await redis.aclose()


def report(args: argparse.Namespace, res: Results) -> None:
    pinning = "servers on CPU 0, listeners and buyers on CPU 1" if not args.no_pin else "no pinning"
    following = (
        "one product each" if args.spread else f"each following all {args.products} products"
    )
    print(
        f"\nlive_counts fan-out: {args.clients} listeners in {args.client_procs} process(es), "
        f"{following}; {args.orders} orders one at a time, {args.interval:g} s apart; "
        f"{os.cpu_count()} CPUs, {pinning}\n"
    )
    print(
        "time from the order's 201 (and from the order's POST being sent) to each listener's "
        "frame, ms;\nspan: the median over orders of first to last frame; order p99: the "
        "median over orders of each order's own p99 from the POST"
    )
    print(
        f"{'':<20} {'':>7} {'--- from the 201 ---':>23} {'--- from the POST ---':>23}\n"
        f"{'target':<20} {'servers':>7} {'p50':>7} {'p99':>7} {'max':>7} {'p50':>7} {'p99':>7} "
        f"{'max':>7} {'span':>6} {'order p99':>9} {'frames':>13} {'p99/ceiling':>11}"
        "  closes / errors / out of order"
    )
    ceiling = {
        n: r
        for name, n, r in res.fanout
        if name == ("ceiling, direct" if n == 1 else "ceiling, via Redis")
    }
    for name, n, r in res.fanout:
        if not r["n"]:
            print(f"{name:<20} {n:>7} no frame received (of {r['expected']})")
            continue
        ref = ceiling.get(n)
        ratio = r["p99"] / ref["p99"] if ref and ref["p99"] > 0 else math.nan
        sent_ratio = r["sent_p99"] / ref["sent_p99"] if ref and ref["sent_p99"] > 0 else math.nan
        print(
            f"{name:<20} {n:>7} {r['p50']:7.1f} {r['p99']:7.1f} {r['max']:7.1f} "
            f"{r['sent_p50']:7.1f} {r['sent_p99']:7.1f} {r['sent_max']:7.1f} {r['span']:6.1f} "
            f"{r['order_p99']:9.1f} {r['n']:>6}/{r['expected']:<6} "
            f"{ratio:5.2f}/{sent_ratio:<5.2f}  "
            f"{r['closed'] or '-'} / {r['errors'] or '-'} / {r['out_of_order']}"
        )
    print("  (p99/ceiling: from the 201 / from the POST)")
    print(
        f"\norder path (ours): POST /api/orders/, {args.concurrency} in flight for "
        f"{args.duration:g} s, spread over {args.products} products and the servers"
    )
    print(
        f"{'servers':>7} {'round':>5} {'':<16} {'orders/s':>9} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'server CPU':>11} {'listeners CPU':>13}  statuses"
    )
    base = {(n, i): r["rate"] for n, i, label, r in res.orders if label == "no listener"}
    for n, i, label, r in res.orders:
        cpu = "+".join(f"{c:.0%}" for c in r["cpu"])
        listeners_cpu = "+".join(f"{c:.0%}" for c in r.get("listeners_cpu", [])) or "-"
        print(
            f"{n:>7} {i + 1:>5} {label:<16} {r['rate']:9.1f} {r['rate'] / base[n, i]:6.2f} "
            f"{r['p50']:8.1f} {r['p99']:8.1f} {cpu:>11} {listeners_cpu:>13}  {r['codes']}"
        )
    for n in args.servers:
        with_l = [r["rate"] for m, _, label, r in res.orders if m == n and label != "no listener"]
        without = [r["rate"] for m, _, label, r in res.orders if m == n and label == "no listener"]
        print(
            f"  {n} server(s): with / without listeners, median over rounds: "
            f"{statistics.median(with_l):.1f} / {statistics.median(without):.1f} orders/s = "
            f"{statistics.median(with_l) / statistics.median(without):.2f}"
        )
    for n, d, h in res.drains:
        print(
            f"  {n} server(s), listeners during the run: {d['frames']} frames of "
            f"{d['implied']} (one per order per follower); last frame "
            f"{d['last_frame_after_last_201_ms']:.0f} ms after the last 201; "
            f"{d['listeners_behind']} listeners short of a final count; closes "
            f"{h['closed'] or '-'}, errors {h['errors'] or '-'}, out of order "
            f"{h['out_of_order']}, open at the end {h['open']}"
        )
    print("\none order at a time, median ms (sent to 201)")
    for n, alone, with_listeners in res.single:
        print(
            f"  {n} server(s): no listener {alone:.1f}, {args.clients} listeners {with_listeners:.1f}"
        )
    for p in res.profiles:
        print(f"profile: {p}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=50, help="one-at-a-time orders timed")
    parser.add_argument("--interval", type=float, default=0.25, help="s between those orders")
    parser.add_argument("--settle", type=float, default=2.0, help="s to wait for late frames")
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    parser.add_argument("--duration", type=float, default=10.0, help="s of each throughput run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=2, help="throughput rounds without, then with listeners"
    )
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--spread", action="store_true", help="each listener follows one product")
    parser.add_argument("--client-procs", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the (first) server into DIR")
    parser.add_argument("--verbose", action="store_true", help="print the servers' logs")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
