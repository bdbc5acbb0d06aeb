"""Bulk upload: parse a CSV / JSON-lines / JSON-array file into stored chunks, then upsert
each chunk by SKU in one idempotent task, and report progress and bad rows.

Rules (also in the OpenAPI description of the endpoint):

- Rows upsert by SKU (trimmed, upper-cased). A SKU repeated within one file: the last row
  wins; earlier rows with it are reported as errors and not applied.
- A column missing from the CSV header, an empty CSV cell (except `description`, where it
  means an empty description), or a missing/null JSON key means "not given": a new product
  gets the default (description "", stock 0, is_active true), an existing one keeps its value.
  `name` and `price` are required for a new product.
- `updated` counts existing products whose values changed; uploading a file again → 0, 0.
- Every chunk's rows, counters, errors and `done` mark are written in one transaction, so a
  task killed midway leaves nothing behind and its retry starts over; a retry of a done
  chunk does nothing. Chunks of one job never share a SKU, so they run in parallel safely.
- Limits: at most CATALOG_BULK_MAX_ROWS data rows (413, nothing stored); the file is read
  twice as a stream (never whole) and its chunks stored a few at a time; of each chunk's
  errors the first ERRORS_KEPT_PER_CHUNK are stored, then one counting the rest.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
from sqlalchemy import bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_catalog import hookspecs, search
from commerce_catalog.bulk_files import (
    COLUMNS,
    FileError,
    RowResult,
    chunks,
    detect_format,
    scan,
    sku_of,
    validate_row,
)
from commerce_catalog.models import BulkJob, BulkJobChunk, Product
from commerce_catalog.schemas import BulkStatus
from commerce_catalog.service import representation
from commerce_catalog.settings import CatalogSettings
from commerce_kernel import Kernel
from commerce_kernel.db import rowcount, utcnow_seconds

logger = logging.getLogger("commerce.catalog.bulk")

CHUNK_TASK = "catalog.bulk_chunk"
ERRORS_SHOWN = 1000  # in a job's status
ERRORS_KEPT_PER_CHUNK = 100  # stored per chunk; `failed` counts every failed row


# --- creating a job ---------------------------------------------------------------------


async def create_job(
    kernel: Kernel,
    file: IO[bytes],
    *,
    filename: str = "",
    content_type: str = "",
    account_id: int | None = None,
) -> str:
    """Store the upload's rows as a queued job and enqueue its chunks; returns the job id."""
    head = file.read(64)
    file.seek(0)
    if not head.strip():
        raise FileError("The file is empty.")
    fmt = detect_format(head, filename, content_type)
    settings = kernel.section(CatalogSettings)
    scanned = await asyncio.to_thread(scan, file, fmt, settings.catalog_bulk_max_rows)
    file.seek(0)
    pieces = chunks(file, scanned, settings.catalog_bulk_chunk_rows)
    job_id = uuid.uuid4().hex
    stamp = utcnow_seconds()
    seq = 0
    table = BulkJobChunk.metadata.tables[BulkJobChunk.__tablename__]
    async with kernel.db.transaction() as session:
        job = BulkJob(
            id=job_id,
            status="queued" if scanned.total else "succeeded",
            source=filename[:255],
            file_format=fmt,
            total=scanned.total,
            chunks=0,
            account_id=account_id,
            created_at=stamp,
            finished_at=None if scanned.total else stamp,
        )
        session.add(job)
        await session.flush()
        if not scanned.total:  # a header and no rows: finished as it starts
            await _record_finished(kernel, session, job_id)
        # Cut and stored a few chunks at a time: the file is never held whole.
        while batch := await asyncio.to_thread(list, itertools.islice(pieces, 20)):
            await session.execute(
                insert(table),
                [
                    {
                        "job_id": job_id,
                        "seq": seq + i,
                        "status": "pending",
                        "size": size,
                        "rows": data.decode(),
                        "processed": 0,
                        "created": 0,
                        "updated": 0,
                        "failed": 0,
                    }
                    for i, (size, data) in enumerate(batch)
                ],
            )
            seq += len(batch)
        job.chunks = seq
    await enqueue_chunks(kernel, job_id, range(seq))
    return job_id


async def enqueue_chunks(kernel: Kernel, job_id: str, seqs: Iterable[int]) -> None:
    # Deterministic task ids: enqueueing a chunk that is already queued does nothing.
    for seq in seqs:
        await kernel.queue.enqueue(CHUNK_TASK, job_id, seq, job_id=f"catalog-bulk-{job_id}-{seq}")


async def resume_stalled(kernel: Kernel) -> int:
    """Enqueue again the pending chunks of unfinished jobs (lost with a crashed process)."""
    async with kernel.db.session() as session:
        rows = (
            await session.execute(
                select(BulkJobChunk.job_id, BulkJobChunk.seq)
                .join(BulkJob, BulkJob.id == BulkJobChunk.job_id)
                .where(BulkJob.status.in_(("queued", "running")), BulkJobChunk.status == "pending")
            )
        ).all()
    for job_id, seq in rows:
        await enqueue_chunks(kernel, job_id, [seq])
    return len(rows)


# --- processing one chunk ---------------------------------------------------------------


@dataclass
class ChunkOutcome:
    created: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)
    failed_rows: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def _error(
    row: int | None, sku: str | None, field_name: str | None, message: str
) -> dict[str, Any]:
    return {"row": row, "sku": sku, "field": field_name, "message": message}


async def _apply(
    session: AsyncSession, entries: list[list[Any]], currency: str, mysql: bool
) -> ChunkOutcome:
    outcome = ChunkOutcome()
    good: dict[str, RowResult] = {}
    for row, raw, superseded, problem in entries:
        if raw is None:
            outcome.failed_rows += 1
            outcome.errors.append(_error(row, None, None, problem or "unreadable row"))
            continue
        if superseded is not None:
            outcome.failed_rows += 1
            outcome.errors.append(
                _error(
                    row,
                    sku_of(raw),
                    "sku",
                    f"SKU repeated in row {superseded} of this file; the last row wins",
                )
            )
            continue
        result = validate_row(row, raw, currency)
        if result.errors:
            outcome.failed_rows += 1
            outcome.errors.extend(
                _error(row, result.sku, e["field"], e["message"]) for e in result.errors
            )
            continue
        good[result.values["sku"]] = result
    if not good:
        return outcome
    # Lock the existing rows: a concurrent writer of the same SKU waits or makes this fail
    # and retry, never interleaves with the comparison below.
    existing = {
        p.sku: p
        for p in (
            await session.execute(
                select(
                    Product.id,
                    Product.sku,
                    Product.name,
                    Product.description,
                    Product.price,
                    Product.stock,
                    Product.is_active,
                )
                .where(Product.sku.in_(sorted(good)))
                .order_by(Product.sku)
                .with_for_update()
            )
        ).all()
    }
    stamp = utcnow_seconds()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    retext: list[dict[str, Any]] = []
    for sku, result in good.items():
        values = result.values
        current = existing.get(sku)
        if current is None:
            missing = [f for f in ("name", "price") if f not in values]
            if missing:
                outcome.failed_rows += 1
                outcome.errors.extend(
                    _error(result.row, sku, f, "is required for a new product") for f in missing
                )
                continue
            record = {
                "sku": sku,
                "name": values["name"],
                "description": values.get("description", ""),
                "price": values["price"],
                "stock": values.get("stock", 0),
                "sold_count": 0,
                "is_active": values.get("is_active", True),
                "created_at": stamp,
                "updated_at": stamp,
            }
            record.update(search.search_columns(sku, record["name"], record["description"], mysql))
            inserts.append(record)
            outcome.created.append(sku)
            continue
        changed = [f for f in COLUMNS if f in values and getattr(current, f) != values[f]]
        if not changed:
            continue
        merged = {f: values.get(f, getattr(current, f)) for f in COLUMNS}
        params = {
            "b_id": current.id,
            "b_updated_at": stamp,
            **{f"b_{k}": v for k, v in merged.items()},
        }
        if {"sku", "name", "description"} & set(changed):
            # Only then is the search text rewritten (and re-indexed).
            folded = search.search_columns(sku, merged["name"], merged["description"], mysql)
            params.update({f"b_{k}": v for k, v in folded.items()})
            retext.append(params)
        else:
            updates.append(params)
        outcome.updated[sku] = changed
    table = Product.metadata.tables[Product.__tablename__]
    if inserts:
        await session.execute(insert(table), inserts)
    for rows, extra in ((updates, []), (retext, ["search_text", "search_tokens"])):
        if rows:
            columns = [*COLUMNS, *extra, "updated_at"]
            await session.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values({c: bindparam(f"b_{c}") for c in columns}),
                rows,
            )
    return outcome


async def run_chunk(kernel: Kernel, job_id: str, seq: int) -> None:
    """Apply one chunk exactly once (a retry of a done chunk does nothing), then finish the
    job if it was the last one."""
    async with kernel.db.transaction() as session:
        await session.execute(
            update(BulkJob)
            .where(BulkJob.id == job_id, BulkJob.status == "queued")
            .values(status="running")
        )
    async with kernel.db.transaction() as session:
        chunk = (
            await session.execute(
                select(BulkJobChunk)
                .where(BulkJobChunk.job_id == job_id, BulkJobChunk.seq == seq)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if chunk is not None and chunk.status == "pending":
            rows_json = (
                await session.execute(
                    select(BulkJobChunk.rows).where(
                        BulkJobChunk.job_id == job_id, BulkJobChunk.seq == seq
                    )
                )
            ).scalar_one()
            entries = orjson.loads(rows_json or "[]")
            outcome = await _apply(session, entries, kernel.settings.currency, kernel.db.is_mysql)
            chunk.status = "done"
            chunk.processed = len(entries)
            chunk.created = len(outcome.created)
            chunk.updated = len(outcome.updated)
            chunk.failed = outcome.failed_rows
            chunk.errors = _stored_errors(outcome.errors, entries)
            chunk.rows = None  # applied: the copy is no longer needed
            chunk.finished_at = utcnow_seconds()
            await _record_changes(kernel, session, outcome)
    await finish_if_complete(kernel, job_id)


def _stored_errors(errors: list[dict[str, Any]], entries: list[list[Any]]) -> str | None:
    """The chunk's errors as kept: the first `ERRORS_KEPT_PER_CHUNK`, then one saying how
    many more there were (so a file of bad rows stores little whatever its size)."""
    if not errors:
        return None
    kept = errors[:ERRORS_KEPT_PER_CHUNK]
    if len(errors) > len(kept):
        first, last = entries[0][0], entries[-1][0]
        more = len(errors) - len(kept)
        kept.append(
            _error(
                None,
                None,
                None,
                f"{more} more errors in rows {first}-{last} are not listed "
                f"(at most {ERRORS_KEPT_PER_CHUNK} are kept per {len(entries)} rows)",
            )
        )
    return orjson.dumps(kept).decode()


async def _record_changes(kernel: Kernel, session: AsyncSession, outcome: ChunkOutcome) -> None:
    """The chunk's product events, recorded in its own transaction (so a durable listener
    hears every change exactly when it commits, and they are announced then). Reading the
    products back is skipped when nobody listens (the usual case)."""
    wants_created = bool(outcome.created) and kernel.events.listened(hookspecs.product_created)
    wants_updated = bool(outcome.updated) and kernel.events.listened(hookspecs.product_updated)
    if not (wants_created or wants_updated):
        return
    skus = [
        *(outcome.created if wants_created else ()),
        *(outcome.updated if wants_updated else ()),
    ]
    products = (await session.execute(select(Product).where(Product.sku.in_(skus)))).scalars()
    by_sku = {p.sku: representation(p, kernel.settings.currency) for p in products}
    for sku in outcome.created if wants_created else ():
        if sku in by_sku:
            await kernel.events.record(session, hookspecs.product_created, product=by_sku[sku])
    for sku, changed in outcome.updated.items() if wants_updated else ():
        if sku in by_sku:
            await kernel.events.record(
                session, hookspecs.product_updated, product=by_sku[sku], changed=changed
            )


async def finish_if_complete(kernel: Kernel, job_id: str) -> None:
    # One conditional statement: of several chunks finishing at once, exactly one flips it.
    pending = exists().where(BulkJobChunk.job_id == job_id, BulkJobChunk.status != "done")
    async with kernel.db.transaction() as session:
        flipped = await session.execute(
            update(BulkJob)
            .where(BulkJob.id == job_id, BulkJob.status.in_(("queued", "running")), ~pending)
            .values(status="succeeded", finished_at=utcnow_seconds())
        )
        if rowcount(flipped):
            await _record_finished(kernel, session, job_id)


async def _record_finished(kernel: Kernel, session: AsyncSession, job_id: str) -> None:
    """`bulk_upload_finished`, recorded in the transaction that settled the job (so it is
    announced exactly when that commits, once per job); not built when nobody listens."""
    if not kernel.events.listened(hookspecs.bulk_upload_finished):
        return
    status = await _status(session, job_id)
    if status is not None:
        await kernel.events.record(
            session, hookspecs.bulk_upload_finished, job=status.model_dump(mode="json")
        )


async def fail_chunk(kernel: Kernel, job_id: str, seq: int, reason: str) -> None:
    """A chunk that kept failing: the job is failed (its done chunks stay applied)."""
    async with kernel.db.transaction() as session:
        await session.execute(
            update(BulkJobChunk)
            .where(
                BulkJobChunk.job_id == job_id,
                BulkJobChunk.seq == seq,
                BulkJobChunk.status == "pending",
            )
            .values(status="failed", finished_at=utcnow_seconds())
        )
        failed = await session.execute(
            update(BulkJob)
            .where(BulkJob.id == job_id, BulkJob.status.in_(("queued", "running")))
            .values(status="failed", error=reason[:2000], finished_at=utcnow_seconds())
        )
        if rowcount(failed):
            await _record_finished(kernel, session, job_id)


# --- status -----------------------------------------------------------------------------


async def job_status(kernel: Kernel, job_id: str) -> BulkStatus | None:
    async with kernel.db.session() as session:
        return await _status(session, job_id)


async def _status(session: AsyncSession, job_id: str) -> BulkStatus | None:
    job = await session.get(BulkJob, job_id)
    if job is None:
        return None
    sums = (
        await session.execute(
            select(
                func.coalesce(func.sum(BulkJobChunk.processed), 0),
                func.coalesce(func.sum(BulkJobChunk.created), 0),
                func.coalesce(func.sum(BulkJobChunk.updated), 0),
                func.coalesce(func.sum(BulkJobChunk.failed), 0),
            ).where(BulkJobChunk.job_id == job_id, BulkJobChunk.status == "done")
        )
    ).one()
    errors: list[dict[str, Any]] = []
    truncated = False
    if job.error:
        errors.append(_error(None, None, None, job.error))
    failing = (
        await session.execute(
            select(BulkJobChunk.seq)
            .where(
                BulkJobChunk.job_id == job_id,
                BulkJobChunk.status == "done",
                BulkJobChunk.failed > 0,
            )
            .order_by(BulkJobChunk.seq)
        )
    ).scalars()
    for seq in failing.all():
        if len(errors) >= ERRORS_SHOWN:
            truncated = True
            break
        text = (
            await session.execute(
                select(BulkJobChunk.errors).where(
                    BulkJobChunk.job_id == job_id, BulkJobChunk.seq == seq
                )
            )
        ).scalar_one()
        items = json.loads(text or "[]")
        room = ERRORS_SHOWN - len(errors)
        truncated = len(items) > room
        errors.extend(items[:room])
    processed, created, updated, failed = (int(v) for v in sums)
    return BulkStatus.model_validate(
        {
            "job_id": job.id,
            "status": job.status,
            "total": job.total,
            "processed": processed,
            "created": created,
            "updated": updated,
            "failed": failed,
            "errors": errors,
            "errors_truncated": truncated,
        }
    )
