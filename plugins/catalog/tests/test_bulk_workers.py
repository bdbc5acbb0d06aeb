"""Bulk upload with real `commerce worker` processes (MariaDB + Redis run only), and the CLI
as a real process."""

import asyncio
import io
import signal
import time

import pytest
from commerce_catalog import bulk
from commerce_catalog.models import Product
from commerce_catalog.settings import CatalogSettings
from sqlalchemy import func, select


@pytest.fixture(scope="session")
def commerce_settings():
    # Short chunk timeout so a killed worker's chunks are retried within the test.
    return {"CATALOG_BULK_CHUNK_TIMEOUT": "10"}


def rows_csv(n, bad_every=0, prefix="K"):
    lines = ["sku,name,description,price,stock"]
    for i in range(n):
        price = "1.001" if bad_every and i % bad_every == 0 else f"{i % 500}.99"
        lines.append(f"{prefix}-{i:06},Product {i},Description of product {i},{price},{i % 50}")
    return ("\n".join(lines) + "\n").encode()


async def wait_for(kernel, job_id, predicate, timeout):
    deadline = time.monotonic() + timeout
    while True:
        status = await bulk.job_status(kernel, job_id)
        if predicate(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {status.model_dump(exclude={'errors'})}")
        await asyncio.sleep(0.05)


async def counts(kernel):
    async with kernel.db.session() as session:
        return (
            await session.execute(
                select(func.count(), func.count(func.distinct(Product.sku))).select_from(Product)
            )
        ).one()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_killed_worker_leaves_a_job_that_a_retry_finishes(kernel, spawn, monkeypatch, sig):
    if not kernel.settings.redis_url:
        pytest.skip("needs real workers: MariaDB + Redis run only")
    monkeypatch.setattr(kernel.section(CatalogSettings), "catalog_bulk_chunk_rows", 200)
    n, bad_every = 20_000, 97
    bad = len(range(0, n, bad_every))
    job_id = await bulk.create_job(kernel, io.BytesIO(rows_csv(n, bad_every)), filename="k.csv")
    first = spawn("worker", "--no-cron")
    try:
        await wait_for(kernel, job_id, lambda s: s.processed >= 2_000, 60)
    except AssertionError:
        print(first.output())
        raise
    # SIGKILL: chunks in flight die mid-transaction; SIGTERM: arq cancels and requeues them.
    first.proc.send_signal(sig)
    await asyncio.to_thread(first.proc.wait, 30)
    mid = await bulk.job_status(kernel, job_id)
    assert mid.status == "running" and mid.processed < n
    # After SIGKILL arq runs the dead worker's chunks again when their in-progress key
    # expires: the longest task timeout of this deployment + 15 s (here 30 s for
    # kernel.send_mail and kernel.deliver_event: about 45 s). After SIGTERM arq requeues cancelled
    # chunks at once, but a chunk cancelled mid-query can keep its key until that expiry too.
    spawn("worker", "--no-cron")
    status = await wait_for(kernel, job_id, lambda s: s.status in ("succeeded", "failed"), 150)
    assert status.status == "succeeded"
    assert (status.total, status.processed) == (n, n)
    assert (status.created, status.updated, status.failed) == (n - bad, 0, bad)
    assert tuple(await counts(kernel)) == (n - bad, n - bad)


async def test_hundred_thousand_rows(kernel, spawn, monkeypatch):
    if not kernel.settings.redis_url:
        pytest.skip("MariaDB + Redis run only")
    n = 100_000
    content = rows_csv(n, prefix="C")
    for _ in range(2):
        spawn("worker", "--no-cron")
    started = time.monotonic()
    job_id = await bulk.create_job(kernel, io.BytesIO(content), filename="100k.csv")
    accepted = time.monotonic() - started
    status = await wait_for(kernel, job_id, lambda s: s.status in ("succeeded", "failed"), 600)
    elapsed = time.monotonic() - started
    assert status.status == "succeeded" and status.created == n
    print(
        f"\n100k-row upload: stored in {accepted:.1f}s, done in {elapsed:.1f}s "
        f"= {n / elapsed:,.0f} rows/s with 2 workers"
    )
    assert tuple(await counts(kernel)) == (n, n)


async def test_cli_import_as_a_process(kernel, spawn, tmp_path):
    path = tmp_path / "cli.csv"
    path.write_bytes(rows_csv(30, bad_every=10))
    if kernel.settings.redis_url:
        spawn("worker", "--no-cron")
    proc = spawn("catalog", "import", str(path))
    code = await asyncio.to_thread(proc.proc.wait, 60)
    output = proc.output()
    assert code == 1, output  # three rows failed: non-zero, as the summary says
    assert "succeeded: 30 rows, 27 created, 0 updated, 3 failed" in output
    assert tuple(await counts(kernel)) == (27, 27)
    allowed = spawn("catalog", "import", "--allow-errors", str(path))
    assert await asyncio.to_thread(allowed.proc.wait, 60) == 0, allowed.output()
    path.write_text("sku,name,price\nX,x,1.00\nX,y,1.00\n")
    bad = spawn("catalog", "import", str(tmp_path / "missing.csv"))
    assert await asyncio.to_thread(bad.proc.wait, 60) == 2
