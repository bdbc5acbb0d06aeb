"""The one async SQLAlchemy engine, session factory and declarative base every plugin shares."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, DateTime, MetaData, Result, Select, event, text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction
from sqlalchemy.types import TypeDecorator

from commerce_kernel.errors import ServiceUnavailable
from commerce_kernel.lean import LeanReader, Reads

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class _PrimaryKeyNameNote(logging.Filter):
    """MariaDB answers each CREATE TABLE naming its primary key (the naming convention names
    them, for the backends that keep the name) with warning 1280 "Name 'pk_x' ignored for
    PRIMARY key", which asyncmy logs: there a primary key is always PRIMARY, and a migration
    printing a warning per table would hide the warnings that matter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ignored for PRIMARY key" not in record.getMessage()


logging.getLogger("asyncmy").addFilter(_PrimaryKeyNameNote())


class Base(DeclarativeBase):
    """The declarative base of every plugin's tables (one metadata, shared conventions)."""

    metadata = metadata


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored naive in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        # MariaDB/MySQL DATETIME keeps whole seconds unless asked for microseconds.
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


MAX_INT_ID = 2**31 - 1
"""The largest id an `Integer` primary key holds (INT on MariaDB): an id above it that a client
sends names nothing (answer as for an unknown id), and must not reach the driver, which would
fail binding it to the column's type."""


def utcnow() -> datetime:
    """Now, timezone-aware UTC, to the microsecond (`UTCDateTime` columns keep microseconds)."""
    return datetime.now(UTC)


def utcnow_seconds() -> datetime:
    """Now in whole seconds, for values shown to clients from columns created as plain
    DATETIME (MariaDB truncates a fraction, MySQL rounds it): a POST's answer and a later
    GET then show the same timestamp on every backend."""
    return datetime.now(UTC).replace(microsecond=0)


def rfc3339(moment: datetime) -> str:
    """A timezone-aware UTC time as the API shows it: RFC 3339 with `Z` (`2026-05-01T09:30:00Z`),
    as pydantic writes it in JSON mode."""
    return moment.isoformat().replace("+00:00", "Z")


def normalize_url(url: str) -> URL:
    """Accept the original service's `mysql://` and `sqlite:///` forms; pick async drivers.
    MariaDB/MySQL goes through asyncmy (compiled: 3-16% less server CPU per read than
    aiomysql, `bench/README.md`) unless the URL names `mysql+aiomysql`."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    if backend in ("mysql", "mariadb"):
        if driver not in ("aiomysql", "asyncmy"):
            parsed = parsed.set(drivername="mysql+asyncmy")
        else:
            parsed = parsed.set(drivername=f"mysql+{driver}")
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        parsed = parsed.set(query=query)
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise ValueError(f"unsupported DATABASE_URL backend {backend!r}: use mysql:// or sqlite://")
    return parsed


def is_mysql(engine_or_url: AsyncEngine | URL) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, AsyncEngine) else engine_or_url
    return url.get_backend_name() in ("mysql", "mariadb")


def create_engine(
    database_url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    timeout: float = 10.0,
    echo: bool = False,
    autocommit: bool = False,
) -> AsyncEngine:
    url = normalize_url(database_url)
    # hide_parameters: bound values (emails, password hashes, codes) never reach an error
    # message, a traceback in the log or echoed SQL.
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True, "hide_parameters": True}
    if is_mysql(url):
        kwargs.update(
            # Not a ping per checkout: `_ping_if_idle` pings a connection that sat idle.
            pool_pre_ping=False,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=timeout,
            pool_recycle=1800,
            isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED",
            skip_autocommit_rollback=autocommit,
            connect_args={"connect_timeout": max(1, int(timeout))},
            # Handed back connections are reset by `_rollback_if_open` instead.
            pool_reset_on_return=None,
        )
    else:
        kwargs["connect_args"] = {"timeout": timeout}
    engine = create_async_engine(url, **kwargs)
    if is_mysql(url):
        pool = engine.sync_engine.pool
        event.listen(pool, "reset", _rollback_if_open)
        event.listen(engine.sync_engine, "begin", _note_transaction(True))
        event.listen(engine.sync_engine, "commit", _note_transaction(False))
        event.listen(engine.sync_engine, "rollback", _note_transaction(False))
        event.listen(pool, "checkin", _note_idle)
        event.listen(pool, "checkout", _ping_if_idle(engine.dialect))
    if url.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        if path is not None:
            event.listen(engine.sync_engine, "do_connect", _owner_only_file(path))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _rollback_if_open(dbapi_connection: Any, record: Any, state: Any) -> None:
    """A connection handed back to the pool is rolled back unless SQLAlchemy ended its last
    transaction itself (`_note_transaction`: a session's close rolls back before it hands the
    connection back, and the pool's own reset would send a second ROLLBACK every time) and
    the server reports none open. Both are needed: after a plain SELECT the server reports no
    transaction, yet the read's one holds its tables' metadata locks until it ends."""
    if state.terminate_only or not state.asyncio_safe:
        return  # being closed, or not from the event loop: no I/O here
    info = getattr(record, "info", None) or {}
    driver = getattr(dbapi_connection, "_connection", None)
    status = getattr(driver, "get_transaction_status", None)
    if info.get(_IN_TRANSACTION, True) or status is None or status():
        dbapi_connection.rollback()


_IN_TRANSACTION = "commerce_in_transaction"


def _note_transaction(in_transaction: bool) -> Callable[..., None]:
    def note(conn: Any, *_args: Any) -> None:
        with contextlib.suppress(Exception):  # a connection already invalidated
            conn.connection.info[_IN_TRANSACTION] = in_transaction

    return note


# A pooled connection idle longer than this is pinged before use (a busy one is not).
PING_AFTER_IDLE = 1.0


def _note_idle(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect: Any) -> Callable[..., None]:
    """The pool's pre-ping, for idle connections only: under load a connection handed back
    a moment ago is used as it is (the ping would double the round trips of a one-query
    request), while one that sat idle, through a database restart say, is pinged and, dead,
    replaced before anything is sent on it. A connection that dies while in use fails its
    request (503) and SQLAlchemy then drops every connection pooled before it."""

    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (a fresh one).
            raise DisconnectionError(f"the pooled connection is gone: {exc}") from exc

    return check


def sqlite_file(url: URL) -> str | None:
    """The file of a SQLite URL, or None for an in-memory or `file:` URI database."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("uri"):
        return None
    return database


def _owner_only_file(path: str) -> Callable[..., None]:
    def create(*_args: Any) -> None:
        # Before SQLite makes the file (0644 under the usual umask): created here 0600, and
        # SQLite gives its -wal and -shm files the database file's mode. An existing file
        # keeps the mode it has.
        with contextlib.suppress(FileExistsError, FileNotFoundError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

    return create


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


# The execution option that marks a connection that only reads (`Database.session()`,
# `Database.reader`); every other one may write.
READS_ONLY = "commerce_reads_only"


def _sqlite_begin(conn: Any) -> None:
    # A writer takes the write lock at BEGIN, so two writers never deadlock upgrading a read
    # lock (a deferred transaction that reads and then writes fails at once, SQLITE_BUSY,
    # if another writer committed meanwhile). A reader's deferred BEGIN only pins a
    # snapshot: in WAL it neither waits for the writer nor holds it up.
    reads_only = conn.get_execution_options().get(READS_ONLY, False)
    conn.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


# Cannot connect or lost the connection (2002, 2003, 2006, 2013, 2055), killed or shutting
# down (1927, 1053), and the server taking no more connections (1040 too many, 1203 too many
# for this user): the database cannot be reached for now, 503 with Retry-After.
_DISCONNECT_MYSQL_CODES = {2002, 2003, 2006, 2013, 2055, 1927, 1053, 1040, 1203}


def is_disconnect(exc: BaseException) -> bool:
    """True when an error means the database cannot be reached (answer 503, not 500)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DisconnectionError | PoolTimeout):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, OperationalError):
            args = getattr(current.orig, "args", ())
            if args and isinstance(args[0], int) and args[0] in _DISCONNECT_MYSQL_CODES:
                return True
            text = str(current.orig).lower()
            if "can't connect" in text or "lost connection" in text or "unable to open" in text:
                return True
        if isinstance(current, ConnectionError | asyncio.TimeoutError):
            return True
        current = current.__cause__ or current.__context__
    return False


T = TypeVar("T")
logger = logging.getLogger("commerce.db")

# MariaDB/MySQL: 1213 deadlock, 1205 lock wait timeout (also MariaDB's NOWAIT), 3572 MySQL NOWAIT.
RETRYABLE_MYSQL_ERRORS = frozenset({1213, 1205, 3572})


def is_retryable(exc: BaseException) -> bool:
    """True when a transaction lost a lock race and running it again is the fix."""
    if not isinstance(exc, DBAPIError):
        return False
    args = getattr(exc.orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in RETRYABLE_MYSQL_ERRORS
    return "database is locked" in str(exc.orig).lower()  # SQLite past its busy timeout


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (MySQL drivers report matched, not changed, rows):
    the answer of a conditional update (`... WHERE stock >= 2`) that decides a race."""
    return cast(CursorResult[Any], result).rowcount


async def retry_on_conflict(attempt: Callable[[], Awaitable[T]], *, tries: int = 2) -> T:
    """Run `attempt()` (which opens and commits its own transaction) again when it lost a
    unique-index race (`IntegrityError`: two first sign-ins of one email created the row at
    the same moment); the next try finds the winner's row. The last failure is raised."""
    for n in range(1, tries + 1):
        try:
            return await attempt()
        except IntegrityError:
            if n == tries:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def with_retries(
    attempt: Callable[[], Awaitable[T]], *, tries: int = 5, base_delay: float = 0.02
) -> T:
    """Run `attempt()` (which opens and commits its own transaction) again after a deadlock
    or lock timeout, with jittered exponential backoff; after `tries`, answer 503, never 500."""
    for n in range(1, tries + 1):
        try:
            return await attempt()
        except DBAPIError as exc:
            if not is_retryable(exc):
                raise
            if n == tries:
                logger.warning("transaction still losing lock races after %d tries", n)
                raise ServiceUnavailable("The store is busy; please retry.", retry_after=1) from exc
            await asyncio.sleep(random.uniform(0, base_delay * 2**n))
    raise AssertionError("unreachable")  # pragma: no cover


_AFTER_COMMIT = "commerce.after_commit"


def transaction_scoped(session: AsyncSession, key: str) -> list[tuple[Any, Any]]:
    """A list in `session.info[key]` of `(savepoint, item)` entries, for work to do when the
    transaction commits: an entry added (`scoped_add`) inside a savepoint
    (`session.begin_nested()`) that rolls back is dropped with it, and every entry when the
    whole transaction rolls back. Clear the list in place once its items are used."""
    sync = session.sync_session
    entries: list[tuple[Any, Any]] | None = sync.info.get(key)
    if entries is None:
        held: list[tuple[Any, Any]] = []
        entries = sync.info[key] = held

        def rolled_back(_: Session, previous: SessionTransaction) -> None:
            if previous.nested:
                held[:] = [(tx, item) for tx, item in held if not _within(tx, previous)]
            else:
                held.clear()

        event.listen(sync, "after_soft_rollback", rolled_back)
    return entries


def scoped_add(session: AsyncSession, key: str, item: Any) -> list[tuple[Any, Any]]:
    """Add `item` to `transaction_scoped(session, key)`, in the current savepoint if any."""
    entries = transaction_scoped(session, key)
    entries.append((session.sync_session.get_nested_transaction(), item))
    return entries


def _within(tx: SessionTransaction | None, savepoint: SessionTransaction) -> bool:
    while tx is not None:
        if tx is savepoint:
            return True
        tx = tx.parent
    return False


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `await callback()` once the transaction of `session` (a `kernel.db.transaction()`)
    has committed; never if it rolls back (nor if the savepoint it was registered in does).
    Callbacks run in the order registered, each isolated (an error is logged: the transaction
    has committed and stands)."""
    scoped_add(session, _AFTER_COMMIT, callback)


async def run_after_commit(session: AsyncSession) -> None:
    """Run and forget the callbacks `after_commit` registered on `session`. For code that
    commits a session itself rather than through `kernel.db.transaction()`."""
    entries = session.sync_session.info.get(_AFTER_COMMIT) or []
    callbacks = [callback for _, callback in entries]
    entries.clear()
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            logger.exception("an after-commit callback failed")


class Database:
    """The engine and session factory of one running app."""

    def __init__(self, database_url: str, **engine_kwargs: Any) -> None:
        self.url = database_url
        self.engine = create_engine(database_url, **engine_kwargs)
        # The engine for connections that only read. On SQLite the same pool, taking no write
        # lock. On MariaDB a pool of its own whose connections are in autocommit mode: each
        # statement is its own transaction (at READ COMMITTED each statement saw only what
        # had committed before it anyway), so a read ends with its answer, with no ROLLBACK
        # round trip after it and no metadata lock held past it.
        self.read_engine = (
            create_engine(database_url, autocommit=True, **engine_kwargs)
            if self.is_mysql
            else self.engine
        )
        self.reader = self.read_engine.execution_options(**{READS_ONLY: True})
        self._lean = LeanReader(
            self.reader,
            direct=self.is_mysql,
            ping_after_idle=PING_AFTER_IDLE,
            in_transaction=_IN_TRANSACTION,
        )
        self.sessions = create_session_factory(self.reader)
        self.writers = create_session_factory(self.engine)

    @property
    def is_mysql(self) -> bool:
        return is_mysql(self.engine)

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        """Every engine this database sends statements through (to listen to them all)."""
        if self.read_engine is self.engine:
            return (self.engine,)
        return (self.engine, self.read_engine)

    @asynccontextmanager
    async def session(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """A session with no transaction of its own, for reads (on SQLite a reader never
        waits for the writer; on MariaDB each statement commits by itself, so nothing written
        or locked in it lasts past its statement). `write=True` for one that writes and
        commits itself: on SQLite it takes the write lock at its first statement, as
        `transaction()` does."""
        async with (self.writers if write else self.sessions)() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error.
        What was registered with `after_commit(session, ...)` runs once it has committed."""
        async with self.writers() as session:
            async with session.begin():
                yield session
            await run_after_commit(session)

    async def fetch_all(
        self, stmt: Select[*tuple[Any, ...]], params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """Every row of a Core `select()` on the reader (nothing written or locked past it),
        the statement compiled once and run on the driver connection: the hot reads' path,
        several times cheaper than `reader.connect()` + `execute` (`commerce_kernel.lean`).
        Rows read by column name or index, of the values SQLAlchemy would give."""
        return await self._lean.fetch_all(stmt, params)

    async def fetch_one(
        self, stmt: Select[*tuple[Any, ...]], params: Mapping[str, Any] | None = None
    ) -> Any:
        """The first row of `fetch_all(stmt, params)`, or None."""
        return await self._lean.fetch_one(stmt, params)

    def reads(self) -> AbstractAsyncContextManager[Reads]:
        """Several `fetch_all`-style reads on one reader connection: `async with
        kernel.db.reads() as r:` then `await r.all(stmt, params)` / `await r.one(...)` (on
        SQLite they see one snapshot; on MariaDB each statement commits by itself)."""
        return self._lean.reads()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self._lean.close()
        for engine in self.engines:
            await engine.dispose()
