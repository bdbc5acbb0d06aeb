"""The orders plugin's background work: sending outbox mail, and two periodic sweeps."""

from __future__ import annotations

from commerce_kernel import CronJob, Task, TaskContext
from commerce_orders import idempotency, outbox


async def send_mail(ctx: TaskContext, row_id: int) -> None:
    """Send one outbox row (no-op when sent or being sent); raises to retry while SMTP fails."""
    await outbox.send(ctx.kernel, row_id)


async def requeue_mail(ctx: TaskContext) -> None:
    await outbox.requeue_unsent(ctx.kernel)


async def purge_idempotency_keys(ctx: TaskContext) -> None:
    await idempotency.purge_expired(ctx.kernel)


TASKS = [Task(outbox.TASK, send_mail, max_tries=8, timeout=outbox.SEND_TIMEOUT)]

CRON_JOBS = [
    CronJob("orders.requeue_mail", requeue_mail, second={0, 15, 30, 45}, timeout=60),
    CronJob("orders.purge_idempotency_keys", purge_idempotency_keys, minute=17, second=0),
]
