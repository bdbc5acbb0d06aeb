"""`commerce` subcommands: what a command is, and how one runs with the kernel.

Every command, the kernel's own included, arrives through the `cli_commands` hook; the
kernel's are its modules here, one per command (Django's `core/management/commands/`)."""

from __future__ import annotations

import argparse
import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from commerce_kernel.db import sqlite_file

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel

CommandResult = int | None


@dataclass(frozen=True)
class Command:
    """A CLI subcommand (hook `cli_commands`).

    `configure` adds arguments to its argparse parser; `run(args, kernel)` does the work and
    returns an exit code (None is 0). A coroutine `run` runs with the kernel started
    (database, Redis, queue, pub/sub, start-up hooks; no cron), unless `start` is False (the
    kernel then only gives access to settings, plugins and the database). `needs_plugins`
    False lets a command run when the enabled plugins fail to load (`new-plugin`).
    """

    name: str
    help: str
    run: Callable[[argparse.Namespace, Kernel], CommandResult | Awaitable[CommandResult]]
    configure: Callable[[argparse.ArgumentParser], None] | None = None
    start: bool = True
    needs_plugins: bool = True


def run_command(command: Command, args: argparse.Namespace, kernel: Kernel) -> int:
    """Run `command` as its declaration says and return its exit code."""
    result = command.run(args, kernel)
    if inspect.isawaitable(result):
        result = asyncio.run(_run_async(command, kernel, result))
    return int(result or 0)


async def _run_async(
    command: Command, kernel: Kernel, work: Awaitable[CommandResult]
) -> CommandResult:
    if command.start:
        try:
            async with kernel.running(run_cron=False):
                return await work
        finally:
            if inspect.iscoroutine(work):
                work.close()  # never awaited when the kernel refused to start
    try:
        return await work
    finally:
        await kernel.db.dispose()


def database_shown(database_url: str) -> str:
    """DATABASE_URL as a command tells the operator which database it used: the password
    hidden; for SQLite the absolute path of the file (the default `./commerce.db` is relative
    to the working directory, so two directories mean two databases)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        if path is None:
            return f"SQLite {url.database or ':memory:'} (not a file)"
        return f"SQLite file {Path(path).resolve()}"
    return url.render_as_string(hide_password=True)


__all__ = ["Command", "CommandResult", "database_shown", "run_command"]
