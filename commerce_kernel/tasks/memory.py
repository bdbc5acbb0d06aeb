"""The embedded default's queue: jobs run as asyncio tasks in this process, with the same
retry policy as arq, and cron jobs on a clock of this process."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from commerce_kernel.tasks import CronJob, RetryPolicy, Task, TaskContext, TaskQueue

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel

logger = logging.getLogger("commerce.tasks")


class InProcessQueue(TaskQueue):
    """Jobs run in this process; not-yet-run jobs are lost with it (durable work keeps its
    own outbox or job rows, which a cron job re-enqueues)."""

    def __init__(
        self,
        tasks: Iterable[Task],
        cron: Iterable[CronJob],
        policy: RetryPolicy,
        concurrency: int = 4,
    ) -> None:
        super().__init__(tasks, cron, policy)
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
            attempt = 1
            while True:
                try:
                    async with self._sem:
                        ctx = TaskContext(self.kernel, job_id, attempt)
                        await asyncio.wait_for(task.func(ctx, *args), task.timeout)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    retry_in = self.policy.after_failure(task, job_id, attempt, exc)
                    if retry_in is None:
                        self.failed.append((task.name, job_id, exc))
                        return
                    await asyncio.sleep(retry_in)
                    attempt += 1
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
                    if job.matches(now):
                        await self._cron_run(job)
            await asyncio.sleep(0.25)

    async def _cron_run(self, job: CronJob) -> None:
        try:
            await asyncio.wait_for(self.run_cron_job(job.name), job.timeout)
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
