"""`commerce catalog import FILE`: a bulk upload from the command line, with a progress bar."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TextIO

from commerce_catalog import bulk
from commerce_catalog.schemas import BulkStatus
from commerce_kernel import Command, Kernel
from commerce_kernel.errors import Problem

POLL_SECONDS = 0.25
ERRORS_PRINTED = 20


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser(
        "import",
        help="upsert products from a CSV, JSON-lines or JSON-array file (as bulk_upload)",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the job")


def run(args: argparse.Namespace, kernel: Kernel) -> int | Awaitable[int]:
    if args.catalog_command == "import":
        return import_file(kernel, args.file, timeout=args.timeout)
    return 2


def _bar(status: BulkStatus, width: int = 30) -> str:
    total = max(status.total, 1)
    done = int(width * status.processed / total)
    return (
        f"[{'#' * done}{'.' * (width - done)}] {status.processed}/{status.total} rows "
        f"({status.created} created, {status.updated} updated, {status.failed} failed)"
    )


async def import_file(
    kernel: Kernel, path: Path, *, timeout: float = 3600.0, out: TextIO | None = None
) -> int:
    """Create the job through the service (not HTTP), follow it, print a summary.
    Exit code 0 when it succeeded (bad rows included), 1 when it failed, 2 for a bad file."""
    out = out or sys.stderr
    try:
        with path.open("rb") as fh:
            job_id = await bulk.create_job(kernel, fh, filename=path.name)
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=out)
        return 2
    except Problem as exc:
        print(f"error: {exc.detail}", file=out)
        return 2
    print(f"job {job_id}: {path.name}", file=out)
    tty = out.isatty()
    status = await _follow(kernel, job_id, timeout, out, tty)
    if tty:
        out.write("\n")
    print(
        f"{status.status}: {status.total} rows, {status.created} created, "
        f"{status.updated} updated, {status.failed} failed",
        file=out,
    )
    for err in status.errors[:ERRORS_PRINTED]:
        where = f"row {err.row}" if err.row is not None else "job"
        print(f"  {where} {err.sku or ''} {err.field or ''}: {err.message}", file=out)
    if len(status.errors) > ERRORS_PRINTED or status.errors_truncated:
        print(f"  ... and more (GET /api/products/bulk_upload/{job_id}/)", file=out)
    return 0 if status.status == "succeeded" else 1


async def _follow(
    kernel: Kernel, job_id: str, timeout: float, out: TextIO, tty: bool
) -> BulkStatus:
    # Embedded default: the in-process queue runs the chunks inside this process, so waiting
    # here lets them run; on Redis, `commerce worker` processes run them and this only polls.
    last = -1
    async with asyncio.timeout(timeout):
        while True:
            status = await bulk.job_status(kernel, job_id)
            assert status is not None
            if tty:
                out.write("\r" + _bar(status))
                out.flush()
            elif status.processed != last:
                print(_bar(status), file=out)
            last = status.processed
            if status.status in ("succeeded", "failed"):
                if not kernel.settings.redis_url:
                    await kernel.queue.drain(timeout=timeout)
                return status
            await asyncio.sleep(POLL_SECONDS)


def commands() -> list[Command]:
    return [
        Command(
            name="catalog",
            help="catalog tools: `commerce catalog import FILE`",
            run=run,
            configure=configure,
        )
    ]
