"""The catalog's background work: bulk-upload chunks, and re-queueing chunks of stalled jobs."""

from __future__ import annotations

from commerce_catalog import bulk
from commerce_catalog.settings import CatalogSettings
from commerce_kernel import CronJob, Kernel, Task, TaskContext

CHUNK_TRIES = 5


async def bulk_chunk(ctx: TaskContext, job_id: str, seq: int) -> None:
    """Upsert one chunk of a bulk upload (idempotent: a done chunk is skipped)."""
    try:
        await bulk.run_chunk(ctx.kernel, job_id, seq)
    except Exception as exc:
        if ctx.attempt >= CHUNK_TRIES:
            await bulk.fail_chunk(
                ctx.kernel, job_id, seq, f"chunk {seq} failed: {type(exc).__name__}"
            )
        raise


async def resume_stalled_jobs(ctx: TaskContext) -> None:
    """Re-queue pending chunks of unfinished jobs (their tasks died with a process)."""
    await bulk.resume_stalled(ctx.kernel)


def tasks(kernel: Kernel) -> list[Task]:
    timeout = kernel.section(CatalogSettings).catalog_bulk_chunk_timeout
    return [Task(bulk.CHUNK_TASK, bulk_chunk, max_tries=CHUNK_TRIES, timeout=timeout, backoff=1.0)]


def cron_jobs(kernel: Kernel) -> list[CronJob]:
    return [CronJob("catalog.resume_stalled_jobs", resume_stalled_jobs, second=17)]
