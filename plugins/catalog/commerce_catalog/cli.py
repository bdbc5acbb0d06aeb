"""`commerce catalog import FILE`: a bulk upload from the command line: progress on stderr,
the summary on stdout, an exit status that says whether every row was stored."""

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

IMPORT_HELP = """\
Upsert products from a CSV, JSON-lines or JSON-array file, as POST
/api/products/bulk_upload/ does, and wait for the job. Progress goes to stderr, the summary
(counts and the first failed rows) to stdout. Exit status: 0 every row stored; 1 some rows
failed (0 with --allow-errors) or the job failed; 2 the file cannot be read or is refused."""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser(
        "import",
        help="upsert products from a CSV, JSON-lines or JSON-array file (as bulk_upload)",
        description=IMPORT_HELP,
    )
    p.add_argument("file", type=Path)
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the job")
    p.add_argument(
        "--allow-errors",
        action="store_true",
        help="exit 0 when the job succeeded even though some rows failed",
    )


def run(args: argparse.Namespace, kernel: Kernel) -> int | Awaitable[int]:
    if args.catalog_command == "import":
        return import_file(kernel, args.file, timeout=args.timeout, allow_errors=args.allow_errors)
    return 2


class Progress:
    """Progress lines for a person watching: a bar redrawn in place on a terminal, a line per
    change otherwise. Whoever watched going away (a closed pipe) stops it, not the import."""

    def __init__(self, stream: TextIO) -> None:
        self.stream: TextIO | None = stream
        self.tty = stream.isatty()
        self._open_bar = False

    def line(self, text: str) -> None:
        self._write(("\n" if self._open_bar else "") + text + "\n")
        self._open_bar = False

    def bar(self, status: BulkStatus) -> None:
        if self.tty:
            self._write("\r" + _bar(status))
            self._open_bar = True
        else:
            self._write(_bar(status) + "\n")

    def done(self) -> None:
        if self._open_bar:
            self._write("\n")
            self._open_bar = False

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:  # BrokenPipeError included
            self.stream = None


def _bar(status: BulkStatus, width: int = 30) -> str:
    total = max(status.total, 1)
    done = int(width * status.processed / total)
    return (
        f"[{'#' * done}{'.' * (width - done)}] {status.processed}/{status.total} rows "
        f"({status.created} created, {status.updated} updated, {status.failed} failed)"
    )


async def import_file(
    kernel: Kernel,
    path: Path,
    *,
    timeout: float = 3600.0,
    allow_errors: bool = False,
    out: TextIO | None = None,
    progress: TextIO | None = None,
) -> int:
    """Create the job through the service (not HTTP), follow it on `progress` (stderr),
    print the summary on `out` (stdout). Exit status: 0 when every row was stored (or, with
    `allow_errors`, when the job succeeded with some rows refused), 1 when rows failed or
    the job failed, 2 for a file that cannot be read or is refused as a whole."""
    out = out or sys.stdout
    watch = Progress(progress or sys.stderr)
    try:
        with path.open("rb") as fh:
            job_id = await bulk.create_job(kernel, fh, filename=path.name)
    except OSError as exc:
        watch.line(f"error: cannot read {path}: {exc.strerror}")
        return 2
    except Problem as exc:
        watch.line(f"error: {path}: {exc.detail}")
        return 2
    watch.line(f"job {job_id}: importing {path.name}")
    status = await _follow(kernel, job_id, timeout, watch)
    watch.done()
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
    out.flush()
    if status.status != "succeeded":
        watch.line(f"error: job {job_id} failed")
        return 1
    if status.failed and not allow_errors:
        rows = f"{status.failed} row{'s' if status.failed != 1 else ''}"
        watch.line(f"error: {rows} not imported (--allow-errors exits 0 all the same)")
        return 1
    return 0


async def _follow(kernel: Kernel, job_id: str, timeout: float, watch: Progress) -> BulkStatus:
    # Embedded default: the in-process queue runs the chunks inside this process, so waiting
    # here lets them run; on Redis, `commerce worker` processes run them and this only polls.
    last = -1
    async with asyncio.timeout(timeout):
        while True:
            status = await bulk.job_status(kernel, job_id)
            assert status is not None
            if watch.tty or status.processed != last:
                watch.bar(status)
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
