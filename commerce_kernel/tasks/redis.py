"""Production's queue: arq on Redis. Jobs are enqueued here and run in `commerce worker`
processes (`build_worker`), with the same retry policy as the in-process runner."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from arq import Retry, Worker, cron, func
from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from commerce_kernel.tasks import CronJob, RetryPolicy, Task, TaskContext, TaskQueue

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


# KEYS: the job, its result, the queue; ARGV: expiry (ms), the serialized job, its id, score.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  return 0
end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
return 1
"""


class ArqQueue(TaskQueue):
    """Jobs go to a Redis list of this deployment (`REDIS_PREFIX` + `queue`), on the
    kernel's one Redis client."""

    def __init__(
        self,
        tasks: Iterable[Task],
        cron: Iterable[CronJob],
        policy: RetryPolicy,
        redis: ArqRedis,
        prefix: str = "commerce:",
    ) -> None:
        super().__init__(tasks, cron, policy)
        self.redis = redis
        self.queue_name = f"{prefix}queue"
        self._enqueue_script = redis.register_script(_ENQUEUE)

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> str | None:
        self.task(name)
        # Job ids live in this deployment's namespace, so deployments can share a Redis.
        arq_id = f"{self.queue_name}:{job_id}" if job_id else uuid4().hex
        now_ms = timestamp_ms()
        score = now_ms + (round(defer_by * 1000) if defer_by else 0)
        job = serialize_job(name, args, {}, None, now_ms, serializer=self.redis.job_serializer)
        # What arq's `enqueue_job` does (the job stored unless it or its result exists, then
        # queued), in one round trip instead of its three (WATCH, EXISTS, MULTI/EXEC): every
        # order enqueues its mail and its durable events after commit.
        queued = await self._enqueue_script(
            keys=[job_key_prefix + arq_id, result_key_prefix + arq_id, self.queue_name],
            args=[score - now_ms + self.redis.expires_extra_ms, job, arq_id, score],
        )
        if not queued:
            return None
        return job_id or arq_id

    async def ping(self) -> None:
        await self.redis.ping()

    async def drain(self, timeout: float = 60.0) -> None:
        """Run every queued job to completion in this process (arq burst mode)."""
        assert self.kernel is not None
        worker = build_worker(self.kernel, burst=True)
        async with asyncio.timeout(timeout):
            while True:
                await worker.async_run()
                # Retried jobs are deferred; wait for them too.
                if not await self.redis.zcard(self.queue_name):
                    break
                await asyncio.sleep(0.05)
        # Not worker.close(): that would close the kernel's Redis client.


# arq's own timeout fails a job without retrying it; the task's timeout is applied here, so a
# try that runs too long is retried by the policy as in-process. arq's is the backstop.
ARQ_TIMEOUT_SLACK = 5.0


def _arq_function(task: Task, policy: RetryPolicy) -> Any:
    async def run(ctx: dict[str, Any], *args: Any) -> Any:
        attempt = int(ctx.get("job_try", 1))
        context = TaskContext(ctx["kernel"], ctx["job_id"], attempt)
        try:
            return await asyncio.wait_for(task.func(context, *args), task.timeout)
        except Exception as exc:
            retry_in = policy.after_failure(task, ctx["job_id"], attempt, exc)
            if retry_in is None:
                raise
            raise Retry(defer=retry_in) from exc

    return func(
        run,
        name=task.name,
        max_tries=task.max_tries,
        timeout=task.timeout + ARQ_TIMEOUT_SLACK,
    )


def _arq_cron(job: CronJob, queue_name: str = "commerce:queue") -> Any:
    async def run(ctx: dict[str, Any]) -> None:
        await job.func(TaskContext(ctx["kernel"], ctx.get("job_id", job.name), 1))

    run.__qualname__ = job.name
    return cron(
        run,
        # arq names a tick's job `<name>:<time>` under its global `arq:job:` keys: in this
        # deployment's namespace, or two deployments on one Redis would share each tick and
        # only one of them would run its job.
        name=f"{queue_name}:{job.name}",
        month=job.month,
        day=job.day,
        weekday=job.weekday,
        hour=job.hour,
        minute=job.minute,
        second=job.second,
        run_at_startup=job.run_at_startup,
        unique=True,
        timeout=job.timeout,
    )


class _Worker(Worker):
    async def start_jobs(self, job_ids: list[bytes]) -> None:
        # arq takes a job slot (its semaphore and job counter) before asking Redis whether
        # the job may start, and keeps it when Redis fails right then: after a few such
        # failures a worker would poll forever without starting anything. Give it back.
        for job_id in job_ids:
            try:
                await super().start_jobs([job_id])
            except (RedisError, OSError) as exc:
                self.job_counter -= 1
                self.sem.release()
                if isinstance(exc, WatchError):
                    # arq handles a WatchError from EXEC (another worker took the job); one
                    # out here is redis-py's word for a connection lost while watching, and
                    # `run_worker` must see it as the lost connection it is, not die of it.
                    raise RedisConnectionError(str(exc)) from exc
                raise


def build_worker(
    kernel: Kernel, *, burst: bool = False, max_jobs: int = 10, with_cron: bool = False
) -> Worker:
    """An arq Worker running every enabled plugin's tasks (and cron jobs when asked)."""
    queue = kernel.queue
    assert isinstance(queue, ArqQueue), "a worker needs REDIS_URL"
    return _Worker(
        [_arq_function(t, queue.policy) for t in queue.tasks.values()],
        queue_name=queue.queue_name,
        cron_jobs=[_arq_cron(j, queue.queue_name) for j in queue.cron] if with_cron else None,
        redis_pool=queue.redis,
        burst=burst,
        handle_signals=not burst,
        ctx={"kernel": kernel},
        max_jobs=max_jobs,
        keep_result=0,  # a finished job id may be queued again, as in-process
        poll_delay=0.05 if burst else 0.2,
    )


logger = logging.getLogger("commerce.tasks")


async def run_worker(worker: Worker, *, max_pause: float = 5.0) -> None:
    """Run `worker` until it stops (a burst is done, a signal). Through a Redis outage it
    waits and reads the queue again rather than exiting (arq alone dies with its first
    failed poll): running jobs go on, and what a restarted Redis lost is for the sweeps
    (`orders.requeue_mail`, `kernel.redeliver_events`) to queue again."""
    pause = 0.5
    while True:
        started = time.monotonic()
        try:
            await worker.async_run()
            return
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            if time.monotonic() - started > 30:
                pause = 0.5  # it ran a while: a new outage
            logger.warning("worker lost Redis (%s); reading the queue again in %.1f s", exc, pause)
        # As main_task, the pause is what arq's SIGTERM/SIGINT handler cancels.
        waiting = asyncio.create_task(asyncio.sleep(pause))
        worker.main_task = waiting
        await waiting
        pause = min(pause * 2, max_pause)


def client_name(prefix: str) -> str:
    """The name the deployment's connections give themselves (`CLIENT LIST` shows it): the
    `REDIS_PREFIX` without its colon, spaces and the like replaced (a `client_name` in the
    URL wins)."""
    return re.sub(r"[^\w:.-]", "_", prefix.rstrip(":")) or "commerce"


def connect(redis_url: str, prefix: str = "commerce:") -> ArqRedis:
    """The deployment's one Redis client (no connection is made until it is used)."""
    pool = ConnectionPool.from_url(redis_url, client_name=client_name(prefix))
    return ArqRedis(connection_pool=pool, default_queue_name=f"{prefix}queue")
