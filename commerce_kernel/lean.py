"""Hot reads without SQLAlchemy's execution layer: `await kernel.db.fetch_one(stmt, params)`.

A Core `select()` is compiled once per statement object (the SQL, its bind parameters' names,
defaults and processors, its columns' result processors) and then, on MariaDB, run straight
on the driver connection of a reader-pool connection: no `Connection`, execution context,
result object or greenlet round per statement, and (`LeanReader.KEEP`) no pool checkout per
read either. The pool is the reader's own, so its size, its ping of connections that sat
idle and the 503 when the database is gone are those of every other read. Rows come back as
named tuples holding what SQLAlchemy would have given (`tests/test_lean.py` holds the two
equal). On this machine that is ~95 µs of CPU per read where `reader.connect()` + `execute`
costs ~330 µs (`bench/README.md`).

Everything else takes SQLAlchemy's own path, with the same statement and parameters: SQLite
(in-process, nothing to save), a statement that must be compiled per call (an expanding
`IN`), and any engine something listens to for its statements (`before_cursor_execute`:
tracing, the test kit's statement counts), so what is observed is what runs.
"""

from __future__ import annotations

import collections
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Select
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

Processor = Callable[[Any], Any] | None


class _Plan:
    """One statement compiled for the driver: SQL, how to build its parameters, its rows."""

    __slots__ = ("binds", "positional", "processors", "row", "sql")

    def __init__(self, compiled: Any, dialect: Any) -> None:
        self.sql = compiled.string
        escaped = getattr(compiled, "escaped_bind_names", {}) or {}
        # Each placeholder, in order (the driver's paramstyle is positional or named): the
        # caller's key with the type's processor, or the statement's own literal value.
        binds: list[tuple[str, str | None, Processor, Any]] = []
        for bind, name in compiled.bind_names.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            placeholder = escaped.get(name, name)
            if bind.required:
                binds.append((placeholder, bind.key, process, None))
            else:
                value = bind.effective_value
                value = process(value) if process and value is not None else value
                binds.append((placeholder, None, None, value))
        if compiled.positional:
            where = {b[0]: b for b in binds}
            binds = [where[escaped.get(name, name)] for name in compiled.positiontup]
        self.binds = tuple(binds)
        self.positional = bool(compiled.positional)
        # The result columns as SQLAlchemy's own result reads them: their keys (a row's
        # names) and types (how a value is converted), in the order of the SELECT.
        columns = compiled._result_columns
        self.row: Any = collections.namedtuple(  # type: ignore[misc]
            "Row", [c.keyname for c in columns], rename=True
        )
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self.processors: tuple[Processor, ...] | None = (
            tuple(processors) if any(processors) else None
        )

    def parameters(self, params: Mapping[str, Any]) -> Any:
        values = []
        for _, key, process, value in self.binds:
            if key is not None:
                try:
                    value = params[key]
                except KeyError:
                    raise InvalidRequestError(
                        f"A value is required for bind parameter {key!r}"
                    ) from None
                if process is not None and value is not None:
                    value = process(value)
            values.append(value)
        if self.positional:
            return tuple(values)
        return {b[0]: v for b, v in zip(self.binds, values, strict=True)}

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[Any]:
        make, processors = self.row._make, self.processors
        if processors is None:
            return [make(r) for r in raw]
        return [
            make([p(v) if p is not None else v for p, v in zip(processors, r, strict=True)])
            for r in raw
        ]


def plannable(stmt: Select[*tuple[Any, ...]], engine: AsyncEngine) -> _Plan | None:
    """The statement's plan, or None when it must be compiled per call (an expanding IN)."""
    compiled = stmt.compile(dialect=engine.dialect)
    if "POSTCOMPILE" in compiled.string:
        return None
    return _Plan(compiled, engine.dialect)


class LeanReader:
    """`fetch_one` / `fetch_all` of Core selects on a reader engine (see the module)."""

    def __init__(
        self, engine: AsyncEngine, *, direct: bool, ping_after_idle: float, in_transaction: str
    ) -> None:
        self.engine = engine
        self.direct = direct  # MariaDB: run on the driver connection
        # The pool's own rules (`commerce_kernel.db`): ping a connection idle this long; the
        # key of a connection's info that says a transaction may be open on it.
        self.ping_after_idle = ping_after_idle
        self.in_transaction = in_transaction
        self._plans: dict[int, tuple[Select[*tuple[Any, ...]], _Plan | None]] = {}
        self._kept: list[tuple[Any, float, float]] = []  # (connection, idle since, taken at)

    def _plan(self, stmt: Select[*tuple[Any, ...]]) -> _Plan | None:
        held = self._plans.get(id(stmt))
        if held is not None and held[0] is stmt:
            return held[1]
        plan = plannable(stmt, self.engine)
        if len(self._plans) >= 1024:  # statements built per request would fill it
            self._plans.clear()
        self._plans[id(stmt)] = (stmt, plan)  # the statement kept, so its id stays its own
        return plan

    def _observed(self) -> bool:
        dispatch = self.engine.sync_engine.dispatch
        return bool(dispatch.before_cursor_execute) or bool(dispatch.after_cursor_execute)

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[Reads]:
        """One reader connection for several statements (`await reads.all(stmt, params)`,
        `await reads.one(...)`): on SQLite they share a snapshot, on MariaDB one checkout."""
        if not self.direct or self._observed():
            async with self.engine.connect() as conn:
                yield _SQLAlchemyReads(conn)
            return
        fairy, born = await self._take()
        reads = _DriverReads(self, fairy)
        try:
            yield reads
        except BaseException:
            # Cut off mid-statement (cancelled), its answer may still be on the wire: the
            # connection is not used again. A statement's own error was handled by `all`.
            if reads.failed:
                await greenlet_spawn(fairy.close)
            else:
                await _drop(fairy)
            raise
        if reads.failed:  # an error the caller caught: the connection is not kept
            await greenlet_spawn(fairy.close)
        else:
            await self._give_back(fairy, born)

    # Connections kept checked out between reads, so a read costs no pool checkout and
    # checkin (each a greenlet round and the pool's events: a fifth of a product detail).
    # Each goes back to the pool after KEEP_FOR seconds (its recycling and the pool's
    # accounting are the pool's) and is pinged before use when it sat idle `ping_after_idle` seconds
    # (what the pool does for its own idle connections).
    KEEP = 10
    KEEP_FOR = 30.0

    async def _take(self) -> tuple[Any, float]:
        now = time.monotonic()
        while self._kept:
            fairy, idle_since, born = self._kept.pop()
            if now - born >= self.KEEP_FOR:
                await self._hand_back(fairy)
                continue
            if now - idle_since > self.ping_after_idle:
                try:
                    await greenlet_spawn(self.engine.dialect.do_ping, fairy)
                except Exception as exc:
                    await _drop(fairy, exc)
                    continue
            return fairy, born
        return await self.engine.raw_connection(), now

    async def _give_back(self, fairy: Any, born: float) -> None:
        # Kept only while the pool could open another connection: once all it may have are
        # out, a request may be waiting on it, and one idling here would leave it waiting.
        pool: Any = self.engine.sync_engine.pool
        most = getattr(pool, "_max_overflow", -1)
        roomy = most < 0 or pool.checkedout() < pool.size() + most
        if roomy and len(self._kept) < self.KEEP:
            self._kept.append((fairy, time.monotonic(), born))
        else:
            await self._hand_back(fairy)

    async def _hand_back(self, fairy: Any) -> None:
        """Check a connection that read without error back in to the pool."""
        fairy._connection_record.info[self.in_transaction] = False  # autocommit: none open
        await greenlet_spawn(fairy.close)  # checkin may close a connection: awaits I/O

    async def lost(self) -> None:
        """A kept connection was found dead: the others went with the same server, likely."""
        kept, self._kept = self._kept, []
        for fairy, _, _ in kept:
            await _drop(fairy)

    async def close(self) -> None:
        """Hand the kept connections back to the pool (before the engine is disposed)."""
        kept, self._kept = self._kept, []
        for fairy, _, _ in kept:
            await self._hand_back(fairy)

    async def fetch_all(
        self, stmt: Select[*tuple[Any, ...]], params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """Every row of `stmt` (named tuples, as SQLAlchemy's rows read by name or index)."""
        async with self.reads() as reads:
            return await reads.all(stmt, params)

    async def fetch_one(
        self, stmt: Select[*tuple[Any, ...]], params: Mapping[str, Any] | None = None
    ) -> Any:
        """The first row of `stmt`, or None."""
        async with self.reads() as reads:
            return await reads.one(stmt, params)

    def _wrapped(
        self, exc: Exception, fairy: Any, plan: _Plan, args: Any
    ) -> tuple[BaseException, bool]:
        """The driver's error as SQLAlchemy raises it (the 503 for a lost database is decided
        on those), and whether it is the connection's fault (then it leaves the pool)."""
        dialect = self.engine.dialect
        dbapi = dialect.loaded_dbapi
        if not isinstance(exc, dbapi.Error | OSError):
            return exc, False
        lost = isinstance(exc, OSError) or dialect.is_disconnect(exc, fairy, None)
        return DBAPIError.instance(
            plan.sql,
            args,
            exc,
            dbapi.Error,
            hide_parameters=True,
            dialect=dialect,
            connection_invalidated=lost,
        ), lost


async def _drop(fairy: Any, exc: BaseException | None = None) -> None:
    """Invalidate a connection (closed, replaced at the pool's next checkout) and let it go."""
    await greenlet_spawn(fairy.invalidate, exc)
    await greenlet_spawn(fairy.close)


class Reads:
    """Statements on one reader connection (`LeanReader.reads()`)."""

    async def all(
        self, stmt: Select[*tuple[Any, ...]], params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        raise NotImplementedError

    async def one(
        self, stmt: Select[*tuple[Any, ...]], params: Mapping[str, Any] | None = None
    ) -> Any:
        """The first row, or None."""
        rows = await self.all(stmt, params)
        return rows[0] if rows else None


class _SQLAlchemyReads(Reads):
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def all(
        self, stmt: Select[*tuple[Any, ...]], params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        return list((await self.conn.execute(stmt, dict(params or {}))).all())


class _DriverReads(Reads):
    def __init__(self, reader: LeanReader, fairy: Any) -> None:
        self.reader, self.fairy = reader, fairy
        self.failed = False

    async def all(
        self, stmt: Select[*tuple[Any, ...]], params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        plan = self.reader._plan(stmt)
        if plan is None:  # compiled per call: SQLAlchemy's path, on a connection of its own
            async with self.reader.engine.connect() as conn:
                return await _SQLAlchemyReads(conn).all(stmt, params)
        args = plan.parameters(params or {})
        driver = self.fairy.driver_connection
        try:
            async with driver.cursor() as cursor:
                await cursor.execute(plan.sql, args)
                raw = await cursor.fetchall()
        except Exception as exc:
            wrapped, lost = self.reader._wrapped(exc, self.fairy, plan, args)
            self.failed = True
            if lost:  # not handed back: closed, and replaced at the next checkout
                await greenlet_spawn(self.fairy.invalidate, exc)
                await self.reader.lost()
            raise wrapped from exc
        return plan.rows(raw)
