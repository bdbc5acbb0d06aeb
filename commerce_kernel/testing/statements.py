"""Counting the SQL a request issues: `with record_statements(*kernel.db.engines) as seen:`
collects every statement the current asyncio task sends (COMMIT and ROLLBACK
included; not what background tasks it started send), so a test can hold a hot path to its
round trips (the `sql_statements` fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@contextmanager
def record_statements(*engines: AsyncEngine) -> Iterator[list[str]]:
    """The statements issued in this task while the block runs, in order: SQL text (a
    MariaDB transaction begins implicitly, with no statement of its own), `COMMIT` /
    `ROLLBACK` for a transaction's end. The pool's ping and reset of a connection are not
    statements and are not listed. Pass every engine of the database (`kernel.db.engines`:
    on MariaDB reads have a pool of their own)."""
    task = asyncio.current_task()
    seen: list[str] = []

    def mine() -> bool:
        try:
            return asyncio.current_task() is task
        except RuntimeError:  # no running loop in this thread
            return False

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if mine():
            seen.append(" ".join(statement.split()))

    def on(name: str) -> Any:
        def record(*_args: Any) -> None:
            if mine():
                seen.append(name)

        return record

    hooks = [
        ("before_cursor_execute", on_execute),
        ("commit", on("COMMIT")),
        ("rollback", on("ROLLBACK")),
    ]
    for engine in engines:
        for name, fn in hooks:
            event.listen(engine.sync_engine, name, fn)
    try:
        yield seen
    finally:
        for engine in engines:
            for name, fn in hooks:
                event.remove(engine.sync_engine, name, fn)
