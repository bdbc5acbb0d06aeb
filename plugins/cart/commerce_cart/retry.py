"""Retrying a whole transaction when the database chose it as a deadlock or lock-wait victim."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from commerce_kernel.errors import ServiceUnavailable

logger = logging.getLogger("commerce.cart.retry")

T = TypeVar("T")

# MariaDB/MySQL: 1213 deadlock, 1205 lock wait timeout (also MariaDB's NOWAIT), 3572 MySQL NOWAIT.
RETRYABLE_MYSQL_ERRORS = frozenset({1213, 1205, 3572})


def is_retryable(exc: BaseException) -> bool:
    """True when the transaction lost a lock race and running it again is the fix."""
    if not isinstance(exc, DBAPIError):
        return False
    args = getattr(exc.orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in RETRYABLE_MYSQL_ERRORS
    # SQLite past its busy timeout.
    return "database is locked" in str(exc.orig).lower()


async def with_retries(
    attempt: Callable[[], Awaitable[T]], *, tries: int = 5, base_delay: float = 0.02
) -> T:
    """Run `attempt()` (which opens and commits its own transaction) again after a deadlock
    or lock timeout, with jittered exponential backoff; after `tries` answer 503, never 500."""
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
