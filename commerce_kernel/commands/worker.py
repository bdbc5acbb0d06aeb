"""`commerce worker`: a task worker (arq on REDIS_URL), with the deployment's cron jobs."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from commerce_kernel.commands import Command
from commerce_kernel.logging import configure_logging
from commerce_kernel.tasks.redis import build_worker, run_worker

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    parser.add_argument(
        "--no-cron", action="store_true", help="do not run cron jobs in this worker"
    )
    parser.add_argument("--max-jobs", type=int, default=10, help="jobs run at once")


def run(args: argparse.Namespace, kernel: Kernel) -> int | None:
    if not kernel.settings.redis_url:
        print(
            "error: `commerce worker` needs REDIS_URL; without it tasks run inside "
            "`commerce serve`",
            file=sys.stderr,
        )
        return 2
    configure_logging(kernel.settings.log_level)
    asyncio.run(_work(args, kernel))
    return 0


async def _work(args: argparse.Namespace, kernel: Kernel) -> None:
    async with kernel.running(run_cron=False):
        worker = build_worker(
            kernel, burst=args.burst, with_cron=not args.no_cron, max_jobs=args.max_jobs
        )
        try:
            await run_worker(worker)
        except asyncio.CancelledError:
            pass  # SIGTERM/SIGINT: arq cancelled its loop and the running jobs
        finally:
            # Let cancelled jobs finish arq's clean-up (requeue, drop the in-progress key)
            # before the loop closes, so they run again at once elsewhere.
            await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
            # Not worker.close(): the Redis client is the kernel's, closed by kernel.stop().


command = Command(
    "worker", "run a task worker (arq on REDIS_URL) with the cron jobs", run, configure
)
