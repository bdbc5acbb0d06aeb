"""Delivering events: the fan-out into one delivery row per subscribed endpoint, the delivery
task (one signed POST per try), the retry schedule, and disabling a failing endpoint.

Guarantees. Every event reaches this plugin through a durable listener: the kernel writes its
row in the fact's own transaction and calls the listener until it succeeds, so a committed
fact is never lost and a rolled-back one is never announced. The listener writes one
`webhook_deliveries` row per enabled endpoint subscribed to the event type (unique per
endpoint and `webhook-id`, so a repeated call adds nothing) and queues one `webhooks.deliver`
task per row. A try claims its row for `WEBHOOKS_TIMEOUT` + 30 s (`locked_until`), so two
tasks for one row never POST at once; a worker killed mid-try leaves the row pending, and the
`webhooks.sweep` cron job (every minute) queues every due pending row again. Delivery is
therefore at least once, with the same `webhook-id` (and the same body) on every try and
every replay: receivers drop duplicates by it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from sqlalchemy import or_, select, update

from commerce_kernel import Account, Mail, Task, TaskContext, utcnow
from commerce_kernel.db import retry_on_conflict, rfc3339, rowcount
from commerce_webhooks import guard, signing, subscribed
from commerce_webhooks.models import Delivery, Endpoint
from commerce_webhooks.settings import WebhooksSettings

if TYPE_CHECKING:
    from commerce_kernel import Kernel

logger = logging.getLogger("commerce.webhooks")

DELIVER = "webhooks.deliver"
SWEEP = "webhooks.sweep"
SWEEP_GRACE = 30.0  # a deferred retry's own job runs first; the sweep catches lost ones
JITTER = 0.2
USER_AGENT = "commerce-webhooks/0.1"


def jittered(wait: float) -> float:
    return max(0.0, wait * random.uniform(1 - JITTER, 1 + JITTER))


async def fan_out(
    kernel: Kernel, event_type: str, message_id: str, data: Mapping[str, Any]
) -> list[int]:
    """One delivery row per enabled endpoint subscribed to `event_type` (none twice), then
    one delivery task each. Returns the ids of the rows written now."""
    now = utcnow()
    body = orjson.dumps(
        {"id": message_id, "type": event_type, "timestamp": rfc3339(now), "data": data}
    ).decode()

    async def write() -> list[int]:
        async with kernel.db.transaction() as session:
            endpoints = [
                e
                for e in await session.scalars(select(Endpoint).where(Endpoint.enabled.is_(True)))
                if event_type in e.event_types
            ]
            if not endpoints:
                return []
            have = set(
                await session.scalars(
                    select(Delivery.endpoint_id).where(
                        Delivery.message_id == message_id,
                        Delivery.endpoint_id.in_([e.id for e in endpoints]),
                    )
                )
            )
            rows = [
                Delivery(
                    endpoint_id=e.id,
                    message_id=message_id,
                    event_type=event_type,
                    body=body,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    last_error="",
                    last_response="",
                    created_at=now,
                )
                for e in endpoints
                if e.id not in have
            ]
            session.add_all(rows)
            await session.flush()
            return [r.id for r in rows]

    ids = await retry_on_conflict(write)
    for delivery_id in ids:
        await enqueue(kernel, delivery_id, 0)
    return ids


async def enqueue(
    kernel: Kernel, delivery_id: int, attempts: int, delay: float = 0, tag: str = ""
) -> None:
    """Queue a try. The job id dedupes queuing one try twice; `tag` sets the sweep's tries
    apart, since the lost job may still hold its id (a killed worker's job keeps it until
    the queue gives up on it)."""
    job_id = f"webhooks:{delivery_id}:{attempts}" + (f":{tag}" if tag else "")
    try:
        await kernel.queue.enqueue(DELIVER, delivery_id, job_id=job_id, defer_by=delay)
    except Exception:
        # The row is pending in the database: the sweep queues it again.
        logger.warning("could not queue webhook delivery %s; the sweep will", delivery_id)


def _client(kernel: Kernel) -> httpx.AsyncClient:
    return kernel.cached(
        "webhooks.client",
        lambda: httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        ),
    )


async def post(
    kernel: Kernel, url: str, headers: dict[str, str], body: bytes, settings: WebhooksSettings
) -> tuple[int, str]:
    """One POST to the address the guard checked (never re-resolved), cut off after the
    timeout, redirects not followed, at most `max_response_bytes` of the answer read."""
    target = await guard.resolve(url, settings)
    parsed = httpx.URL(url)
    pinned = parsed.copy_with(host=str(target.address))
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host and target.port == default_port:
        host_header = f"[{target.host}]"
    elif ":" in target.host:
        host_header = f"[{target.host}]:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    request = _client(kernel).build_request(
        "POST",
        pinned,
        content=body,
        headers={**headers, "Host": host_header, "Content-Type": "application/json"},
        timeout=httpx.Timeout(settings.timeout),
        extensions=extensions,
    )
    async with asyncio.timeout(settings.timeout):
        response = await _client(kernel).send(request, stream=True)
        try:
            kept = bytearray()
            limit = settings.max_response_bytes
            if limit:
                async for chunk in response.aiter_raw():
                    kept += chunk
                    if len(kept) >= limit:
                        break
            return response.status_code, bytes(kept[:limit]).decode("utf-8", "replace")
        finally:
            await response.aclose()


async def deliver(ctx: TaskContext, delivery_id: int) -> None:
    """The task: one try of one delivery, then the next try scheduled, or the row settled."""
    kernel = ctx.kernel
    settings = kernel.section(WebhooksSettings)
    now = utcnow()
    async with kernel.db.transaction() as session:
        claimed = await session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status == "pending",
                or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
            )
            .values(locked_until=now + timedelta(seconds=settings.timeout + 30))
        )
        if not rowcount(claimed):
            return
        row = await session.get(Delivery, delivery_id)
        endpoint = await session.get(Endpoint, row.endpoint_id) if row else None
        if row is None or endpoint is None:
            return
        if not endpoint.enabled:
            row.locked_until = None  # kept pending: a replay or re-enabling sends it
            return
        message_id, body, url = row.message_id, row.body.encode(), endpoint.url
        was_failing = endpoint.failing_since is not None
        keys = [endpoint.secret]
        if (
            endpoint.previous_secret
            and endpoint.previous_secret_until
            and endpoint.previous_secret_until > now
        ):
            keys.append(endpoint.previous_secret)
    started = time.monotonic()
    code: int | None = None
    text = ""
    error = ""
    headers = signing.headers(keys, message_id, int(time.time()), body)
    try:
        code, text = await post(kernel, url, headers, body, settings)
        if not 200 <= code < 300:
            error = f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
    except guard.TargetRefused as exc:
        error = f"refused: {exc}"
    except TimeoutError:
        error = f"timed out after {settings.timeout:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    took = int((time.monotonic() - started) * 1000)
    await settle(kernel, settings, delivery_id, code, text, error, took, was_failing)


async def settle(
    kernel: Kernel,
    settings: WebhooksSettings,
    delivery_id: int,
    code: int | None,
    text: str,
    error: str,
    took: int,
    was_failing: bool = True,
) -> None:
    """Record a try; schedule the next one or settle the row; on failure, start or check
    the endpoint's failure clock (on success a healthy endpoint's row, `was_failing` false,
    is not touched)."""
    now = utcnow()
    retry_in: float | None = None
    disabled: Endpoint | None = None
    async with kernel.db.transaction() as session:
        row = await session.get(Delivery, delivery_id)
        if row is None:
            return  # its endpoint was deleted meanwhile
        row.attempts += 1
        row.last_attempt_at = now
        row.last_status_code = code
        row.last_error = error[:500]
        row.last_response = text
        row.last_duration_ms = took
        row.locked_until = None
        attempts, endpoint_id = row.attempts, row.endpoint_id
        if not error:
            row.status = "succeeded"
            row.delivered_at = now
            row.next_attempt_at = None
            if was_failing:
                await session.execute(
                    update(Endpoint)
                    .where(Endpoint.id == endpoint_id, Endpoint.failing_since.is_not(None))
                    .values(failing_since=None)
                )
        else:
            waits = settings.waits
            if attempts <= len(waits):
                retry_in = jittered(waits[attempts - 1])
                row.next_attempt_at = now + timedelta(seconds=retry_in)
            else:
                row.status = "failed"
                row.next_attempt_at = None
            # The failure clock starts at the first failure since the last success.
            await session.execute(
                update(Endpoint)
                .where(Endpoint.id == endpoint_id, Endpoint.failing_since.is_(None))
                .values(failing_since=now)
            )
            cut = await session.execute(
                update(Endpoint)
                .where(
                    Endpoint.id == endpoint_id,
                    Endpoint.enabled.is_(True),
                    Endpoint.failing_since < now - timedelta(seconds=settings.disable_after),
                )
                .values(
                    enabled=False,
                    disabled_reason=f"failing since more than {settings.disable_after:g} s",
                    updated_at=now,
                )
            )
            if rowcount(cut):
                disabled = await session.get(Endpoint, endpoint_id)
                await subscribed.refresh(session)
    if retry_in is not None:
        await enqueue(kernel, delivery_id, attempts, retry_in)
    if disabled is not None:
        await mail_admins(kernel, disabled, error)


async def mail_admins(kernel: Kernel, endpoint: Endpoint, error: str) -> None:
    async with kernel.db.session() as session:
        emails = list(
            await session.scalars(
                select(Account.email).where(Account.is_admin.is_(True), Account.is_active.is_(True))
            )
        )
    logger.error("webhook endpoint %s (%s) disabled: %s", endpoint.id, endpoint.url, error)
    if not emails:
        return
    since = rfc3339(endpoint.failing_since) if endpoint.failing_since else "a while"
    mail = Mail(
        to=emails,
        subject=f"Webhook endpoint {endpoint.id} disabled",
        body=(
            f"The webhook endpoint {endpoint.id} ({endpoint.url}) has failed every delivery "
            f"since {since} and was disabled. Last error: {error}\n\n"
            f"Deliveries stay pending or failed: fix the receiver, enable the endpoint again "
            f"(PATCH /api/admin/webhooks/endpoints/{endpoint.id}/ with "
            '{"enabled": true}) and replay the failed ones '
            f"(POST /api/admin/webhooks/endpoints/{endpoint.id}/replay/).\n"
        ),
    )
    await kernel.queue.enqueue("kernel.send_mail", mail.to_dict())


async def sweep(ctx: TaskContext, *, grace: float = SWEEP_GRACE) -> int:
    """The cron job: queue again every pending delivery due `grace` seconds ago and not held
    by a try (its task lost: Redis down, a killed worker). Returns how many were queued."""
    kernel = ctx.kernel
    now = utcnow()
    async with kernel.db.session() as session:
        due = list(
            (
                await session.execute(
                    select(Delivery.id, Delivery.attempts)
                    .join(Endpoint, Endpoint.id == Delivery.endpoint_id)
                    .where(
                        Delivery.status == "pending",
                        Delivery.next_attempt_at <= now - timedelta(seconds=grace),
                        or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
                        Endpoint.enabled.is_(True),
                    )
                    .order_by(Delivery.id)
                    .limit(1000)
                )
            ).all()
        )
    tag = f"sweep{int(now.timestamp()) // 60}"
    for delivery_id, attempts in due:
        await enqueue(kernel, delivery_id, attempts, tag=tag)
    return len(due)


async def sweep_cron(ctx: TaskContext) -> None:
    await sweep(ctx)


def tasks(kernel: Kernel) -> list[Task]:
    """One try per job (the schedule above queues the next one); the job's timeout stays
    under the row's hold, so a stuck try is cut off before another may take the row."""
    timeout = kernel.section(WebhooksSettings).timeout + 20
    return [Task(DELIVER, deliver, max_tries=1, timeout=timeout)]
