"""The one task API: enqueue work by name; arq on Redis, or an in-process runner, same retries."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arq.connections import ArqRedis

    from commerce_kernel.app import Kernel

logger = logging.getLogger("commerce.tasks")


@dataclass(frozen=True)
class TaskContext:
    """What a running task gets besides its arguments."""

    kernel: Kernel
    job_id: str
    attempt: int


TaskFunc = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Task:
    """A named unit of background work. Tasks must be idempotent: a retry may repeat one.

    A task that raises is retried up to `max_tries` times in all, waiting
    `backoff * 2**(attempt-1)` seconds (capped at `max_backoff`) between tries;
    raise `GiveUp` to fail at once. Keep `timeout` short: on Redis, the job of a worker that
    was killed (SIGKILL, lost machine) is run again after the longest task timeout of the
    deployment + 10 s; a worker stopped with SIGTERM requeues its jobs at once.
    """

    name: str
    func: TaskFunc
    max_tries: int = 5
    timeout: float = 300.0
    backoff: float | None = None
    max_backoff: float = 300.0


@dataclass(frozen=True)
class CronJob:
    """A periodic job, run once per deployment at the matching times (None = every)."""

    name: str
    func: TaskFunc
    hour: set[int] | int | None = None
    minute: set[int] | int | None = None
    second: set[int] | int | None = 0
    run_at_startup: bool = False
    timeout: float = 300.0


class GiveUp(Exception):
    """Raised by a task that must not be retried."""


def retry_delay(task: Task, attempt: int, default_backoff: float) -> float:
    base = default_backoff if task.backoff is None else task.backoff
    return float(min(base * 2 ** max(0, attempt - 1), task.max_backoff))


def _matches(value: int, spec: set[int] | int | None) -> bool:
    if spec is None:
        return True
    if isinstance(spec, int):
        return value == spec
    return value in spec


class TaskQueue:
    """What plugins call: `await kernel.queue.enqueue("catalog.import_chunk", job_id, 3)`."""

    def __init__(
        self, tasks: Iterable[Task], cron: Iterable[CronJob], default_backoff: float
    ) -> None:
        self.tasks = {t.name: t for t in tasks}
        self.cron = list(cron)
        self.default_backoff = default_backoff
        self.kernel: Kernel | None = None

    def task(self, name: str) -> Task:
        try:
            return self.tasks[name]
        except KeyError:
            raise LookupError(f"no task named {name!r} is registered") from None

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> str | None:
        """Queue `name(*args)`; returns the job id, or None while a job with `job_id` is queued
        or running (the same id may be queued again once it has finished)."""
        raise NotImplementedError

    async def start(self, kernel: Kernel, *, run_cron: bool) -> None:
        self.kernel = kernel

    async def stop(self) -> None:
        return None

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait until every queued job (retries included) has finished. For tests and CLIs."""
        raise NotImplementedError

    async def ping(self) -> None:
        return None


class InProcessQueue(TaskQueue):
    """The embedded default: jobs run as asyncio tasks in this process, with the same retries."""

    def __init__(
        self,
        tasks: Iterable[Task],
        cron: Iterable[CronJob],
        default_backoff: float,
        concurrency: int = 4,
    ) -> None:
        super().__init__(tasks, cron, default_backoff)
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._sem = asyncio.Semaphore(concurrency)
        self._cron_task: asyncio.Task[None] | None = None
        self.failed: list[tuple[str, str, BaseException]] = []

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> str | None:
        task = self.task(name)
        job_id = job_id or uuid.uuid4().hex
        if job_id in self._pending:
            return None
        self._pending[job_id] = asyncio.create_task(self._run(task, job_id, args, defer_by or 0))
        return job_id

    async def _run(self, task: Task, job_id: str, args: Sequence[Any], delay: float) -> None:
        assert self.kernel is not None
        try:
            if delay:
                await asyncio.sleep(delay)
            for attempt in range(1, task.max_tries + 1):
                try:
                    async with self._sem:
                        ctx = TaskContext(self.kernel, job_id, attempt)
                        await asyncio.wait_for(task.func(ctx, *args), task.timeout)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    final = isinstance(exc, GiveUp) or attempt == task.max_tries
                    if final:
                        logger.error(
                            "task %s (%s) failed after %d tries",
                            task.name,
                            job_id,
                            attempt,
                            exc_info=exc,
                        )
                        self.failed.append((task.name, job_id, exc))
                        return
                    delay = retry_delay(task, attempt, self.default_backoff)
                    logger.warning(
                        "task %s (%s) try %d failed: %s; retrying in %.2fs",
                        task.name,
                        job_id,
                        attempt,
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
        finally:
            self._pending.pop(job_id, None)

    async def start(self, kernel: Kernel, *, run_cron: bool) -> None:
        await super().start(kernel, run_cron=run_cron)
        if run_cron and self.cron:
            self._cron_task = asyncio.create_task(self._cron_loop())

    async def _cron_loop(self) -> None:
        for job in self.cron:
            if job.run_at_startup:
                await self._cron_run(job)
        last = None
        while True:
            now = datetime.now(UTC).replace(microsecond=0)
            if now != last:
                last = now
                for job in self.cron:
                    if (
                        _matches(now.hour, job.hour)
                        and _matches(now.minute, job.minute)
                        and _matches(now.second, job.second)
                    ):
                        await self._cron_run(job)
            await asyncio.sleep(0.25)

    async def _cron_run(self, job: CronJob) -> None:
        assert self.kernel is not None
        try:
            await asyncio.wait_for(
                job.func(TaskContext(self.kernel, f"cron:{job.name}", 1)), job.timeout
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("cron job %s failed", job.name)

    async def stop(self) -> None:
        if self._cron_task is not None:
            self._cron_task.cancel()
            await asyncio.gather(self._cron_task, return_exceptions=True)
        pending = list(self._pending.values())
        if pending:
            # Let running jobs finish briefly; unfinished embedded jobs are lost with the
            # process, which is why durable work keeps its own outbox/job rows.
            _, not_done = await asyncio.wait(pending, timeout=5)
            for t in not_done:
                t.cancel()
            await asyncio.gather(*not_done, return_exceptions=True)

    async def drain(self, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while self._pending:
                await asyncio.gather(*list(self._pending.values()), return_exceptions=True)


class ArqQueue(TaskQueue):
    """Production: jobs go to Redis and run in `commerce worker` processes (arq)."""

    def __init__(
        self,
        tasks: Iterable[Task],
        cron: Iterable[CronJob],
        default_backoff: float,
        redis_url: str,
        prefix: str = "commerce:",
    ) -> None:
        super().__init__(tasks, cron, default_backoff)
        self.redis_url = redis_url
        self.queue_name = f"{prefix}queue"
        self.pool: ArqRedis | None = None

    async def start(self, kernel: Kernel, *, run_cron: bool) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        await super().start(kernel, run_cron=run_cron)
        settings = RedisSettings.from_dsn(self.redis_url)
        settings.conn_retries = 0
        self.pool = await create_pool(settings, default_queue_name=self.queue_name)

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> str | None:
        self.task(name)
        assert self.pool is not None, "the queue is not started"
        # Job ids live in this deployment's namespace, so deployments can share a Redis.
        job = await self.pool.enqueue_job(
            name,
            *args,
            _job_id=f"{self.queue_name}:{job_id}" if job_id else None,
            _defer_by=defer_by,
            _queue_name=self.queue_name,
        )
        if job is None:
            return None
        return job_id or job.job_id

    async def ping(self) -> None:
        assert self.pool is not None
        await self.pool.ping()

    async def drain(self, timeout: float = 60.0) -> None:
        """Run every queued job to completion in this process (arq burst mode)."""
        assert self.kernel is not None and self.pool is not None
        worker = build_worker(self.kernel, burst=True, pool=self.pool)
        async with asyncio.timeout(timeout):
            while True:
                await worker.async_run()
                # Retried jobs are deferred; wait for them too.
                if not await self.pool.zcard(self.queue_name):
                    break
                await asyncio.sleep(0.05)
        # Not worker.close(): that would close the queue's own Redis pool.


@dataclass
class _WorkerState:
    kernel: Any
    extra: dict[str, Any] = field(default_factory=dict)


def _arq_function(task: Task, default_backoff: float) -> Any:
    from arq import Retry, func

    async def run(ctx: dict[str, Any], *args: Any) -> Any:
        attempt = int(ctx.get("job_try", 1))
        try:
            return await task.func(TaskContext(ctx["kernel"], ctx["job_id"], attempt), *args)
        except GiveUp:
            raise
        except Exception as exc:
            if attempt >= task.max_tries:
                raise
            delay = retry_delay(task, attempt, default_backoff)
            logger.warning(
                "task %s (%s) try %d failed: %s; retrying in %.2fs",
                task.name,
                ctx["job_id"],
                attempt,
                exc,
                delay,
            )
            raise Retry(defer=delay) from exc

    return func(run, name=task.name, max_tries=task.max_tries, timeout=task.timeout)


def _arq_cron(job: CronJob) -> Any:
    from arq import cron

    async def run(ctx: dict[str, Any]) -> None:
        await job.func(TaskContext(ctx["kernel"], ctx.get("job_id", job.name), 1))

    run.__qualname__ = job.name
    return cron(
        run,
        name=job.name,
        hour=job.hour,
        minute=job.minute,
        second=job.second,
        run_at_startup=job.run_at_startup,
        unique=True,
        timeout=job.timeout,
    )


def build_worker(
    kernel: Kernel,
    *,
    burst: bool = False,
    pool: ArqRedis | None = None,
    max_jobs: int = 10,
    with_cron: bool = False,
) -> Any:
    """An arq Worker running every enabled plugin's tasks (and cron jobs when asked)."""
    from arq import Worker
    from arq.connections import RedisSettings

    queue = kernel.queue
    assert isinstance(queue, ArqQueue)
    functions = [_arq_function(t, queue.default_backoff) for t in queue.tasks.values()]
    cron_jobs = [_arq_cron(j) for j in queue.cron] if with_cron else None
    assert kernel.settings.redis_url
    return Worker(
        functions,
        queue_name=queue.queue_name,
        cron_jobs=cron_jobs,
        redis_settings=RedisSettings.from_dsn(kernel.settings.redis_url),
        redis_pool=pool,
        burst=burst,
        handle_signals=not burst,
        ctx={"kernel": kernel},
        max_jobs=max_jobs,
        keep_result=0,  # a finished job id may be queued again, as in-process
        poll_delay=0.05 if burst else 0.2,
    )
