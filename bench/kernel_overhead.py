"""What the kernel adds to a request: its app vs a bare Starlette app, same process setup.

Starts three uvicorn servers (one process each) on loopback and drives each with the same
async client load, then prints requests/s and the ratios against the bare Starlette
reference measured in the same run (the machine is shared and noisy: compare ratios).

    .venv/bin/python bench/kernel_overhead.py [--requests 4000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def health(request):
    return JSONResponse({"status": "ok"})

app = Starlette(routes=[Route("/api/health/", health)])
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_up(url: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def load(url: str, total: int, concurrency: int, headers: dict[str, str]) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, headers=headers) as client:
        for _ in range(50):  # warm up
            (await client.get(url)).raise_for_status()
        remaining = total

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                (await client.get(url)).raise_for_status()

        start_t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - start_t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    opts = parser.parse_args()
    bindir = Path(sys.executable).parent
    work = tempfile.mkdtemp(prefix="bench-kernel-")
    Path(work, "bare_app.py").write_text(BARE_APP)
    env = {
        "DATABASE_URL": f"sqlite:///{work}/bench.db",
        "SECRET_KEY": "bench" * 10,
        "EMAIL_TO_LOG_ALLOWED": "true",
        "LOG_LEVEL": "WARNING",
        "COMMERCE_PLUGINS": "kernel",
    }
    subprocess.run(
        [str(bindir / "commerce"), "migrate"],
        env={**os.environ, **env},
        cwd=work,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    token = subprocess.run(
        [
            sys.executable,
            "-c",
            "import asyncio\nfrom commerce_kernel import Kernel\nfrom commerce_kernel.identity import create_account, CUSTOMER\n"
            "async def m():\n k = Kernel.load()\n async with k.db.transaction() as s:\n"
            "  a = await create_account(s, 'bench@example.com')\n"
            "  print((await k.tokens.issue(s, a.id, CUSTOMER)).access_token)\n await k.db.dispose()\n"
            "asyncio.run(m())",
        ],
        env={**os.environ, **env},
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ports = {"bare": free_port(), "kernel": free_port()}
    procs = [
        start(
            [
                str(bindir / "uvicorn"),
                "bare_app:app",
                "--port",
                str(ports["bare"]),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            {},
            work,
        ),
        start([str(bindir / "commerce"), "serve", "--port", str(ports["kernel"])], env, work),
    ]
    try:
        for port in ports.values():
            wait_up(f"http://127.0.0.1:{port}/api/health/")
        cases = [
            ("bare Starlette GET /api/health/ (reference)", ports["bare"], "/api/health/", {}),
            ("kernel GET /api/health/", ports["kernel"], "/api/health/", {}),
            (
                "kernel GET /api/auth/me/ (token + 1 query)",
                ports["kernel"],
                "/api/auth/me/",
                {"Authorization": f"Bearer {token}"},
            ),
        ]
        results = []
        for label, port, path, headers in cases:
            rps = asyncio.run(
                load(f"http://127.0.0.1:{port}{path}", opts.requests, opts.concurrency, headers)
            )
            results.append((label, rps))
        ref = results[0][1]
        print(f"{opts.requests} requests, concurrency {opts.concurrency}, one server process each")
        for label, rps in results:
            print(f"  {label:48s} {rps:8.0f} req/s   ratio {rps / ref:5.2f}")
    finally:
        for p in procs:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
