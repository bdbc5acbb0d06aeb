"""The one task API: tasks and cron jobs declared by plugins, the queue they are enqueued on,
and the one retry policy both runners apply (in-process: `tasks.memory`; arq on Redis:
`tasks.redis`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel

logger = logging.getLogger("commerce.tasks")


@dataclass(frozen=True)
class TaskContext:
    """What a running task or cron job gets besides its arguments."""

    kernel: Kernel
    job_id: str
    attempt: int


TaskFunc = Callable[..., Awaitable[Any]]
CronFunc = Callable[[TaskContext], Awaitable[Any]]


@dataclass(frozen=True)
class Task:
    """A named unit of background work. Tasks must be idempotent: a retry may repeat one.

    A task that raises is retried up to `max_tries` times in all, waiting
    `backoff * 2**(attempt-1)` seconds (capped at `max_backoff`; `backoff` None means the
    deployment's `TASK_RETRY_DELAY`) between tries; raise `GiveUp` to fail at once. Keep
    `timeout` short: on Redis, the job of a worker that was killed (SIGKILL, lost machine) is
    run again after the longest task timeout of the deployment + 15 s; a worker stopped with
    SIGTERM requeues its jobs at once.
    """

    name: str
    func: TaskFunc
    max_tries: int = 5
    timeout: float = 300.0
    backoff: float | None = None
    max_backoff: float = 300.0


Moment = set[int] | int | None


@dataclass(frozen=True)
class CronJob:
    """A periodic job, run once per deployment at the matching UTC times (None = every).

    The calendar fields are arq's: `month` 1-12, `day` of the month 1-31, `weekday` 0-6
    (Monday is 0), `hour`, `minute`, `second` (default 0, so once a minute at most unless
    given). A monthly job: `CronJob("loyalty.expire", expire, day=1, hour=3, minute=0)`.
    `timeout` counts towards the longest timeout of the deployment, like a task's: keep it
    short (a job that has more to do leaves the rest for its next run).
    """

    name: str
    func: CronFunc
    month: Moment = None
    day: Moment = None
    weekday: Moment = None
    hour: Moment = None
    minute: Moment = None
    second: Moment = 0
    run_at_startup: bool = False
    timeout: float = 60.0

    def matches(self, when: datetime) -> bool:
        return all(
            _matches(value, spec)
            for value, spec in (
                (when.month, self.month),
                (when.day, self.day),
                (when.weekday(), self.weekday),
                (when.hour, self.hour),
                (when.minute, self.minute),
                (when.second, self.second),
            )
        )


def _matches(value: int, spec: Moment) -> bool:
    if spec is None:
        return True
    if isinstance(spec, int):
        return value == spec
    return value in spec


class GiveUp(Exception):
    """Raised by a task that must not be retried."""


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed try is tried again, and how it is logged: the same for both runners."""

    default_backoff: float = 1.0

    def delay(self, task: Task, attempt: int) -> float:
        base = self.default_backoff if task.backoff is None else task.backoff
        return float(min(base * 2 ** max(0, attempt - 1), task.max_backoff))

    def after_failure(
        self, task: Task, job_id: str, attempt: int, exc: BaseException
    ) -> float | None:
        """Seconds until the next try, or None when the job has failed for good (logged)."""
        if isinstance(exc, GiveUp) or attempt >= task.max_tries:
            logger.error(
                "task %s (%s) failed after %d tries", task.name, job_id, attempt, exc_info=exc
            )
            return None
        delay = self.delay(task, attempt)
        logger.warning(
            "task %s (%s) try %d failed: %s; retrying in %.2fs",
            task.name,
            job_id,
            attempt,
            exc,
            delay,
        )
        return delay


class TaskQueue:
    """What plugins call: `await kernel.queue.enqueue("catalog.import_chunk", job_id, 3)`.

    One interface, two backends: `tasks.memory.InProcessQueue` (the embedded default: jobs run
    in this process) and `tasks.redis.ArqQueue` (arq: jobs run in `commerce worker`).
    """

    def __init__(self, tasks: Iterable[Task], cron: Iterable[CronJob], policy: RetryPolicy) -> None:
        self.tasks = {t.name: t for t in tasks}
        self.cron = list(cron)
        self.policy = policy
        self.kernel: Kernel | None = None

    def task(self, name: str) -> Task:
        try:
            return self.tasks[name]
        except KeyError:
            raise LookupError(f"no task named {name!r} is registered") from None

    def cron_job(self, name: str) -> CronJob:
        for job in self.cron:
            if job.name == name:
                return job
        raise LookupError(f"no cron job named {name!r} is registered")

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> str | None:
        """Queue `name(*args)`; returns the job id, or None while a job with `job_id` is queued
        or running (the same id may be queued again once it has finished)."""
        raise NotImplementedError

    async def run_cron_job(self, name: str) -> None:
        """Run one cron job now, in this process, as its schedule would (tests, operators)."""
        assert self.kernel is not None, "the queue is not started"
        job = self.cron_job(name)
        await job.func(TaskContext(self.kernel, f"cron:{job.name}", 1))

    async def start(self, kernel: Kernel, *, run_cron: bool) -> None:
        self.kernel = kernel

    async def stop(self) -> None:
        return None

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait until every queued job (retries included) has finished. For tests and CLIs."""
        raise NotImplementedError

    async def ping(self) -> None:
        return None


__all__ = ["CronJob", "GiveUp", "RetryPolicy", "Task", "TaskContext", "TaskQueue"]
