"""Bulk upload: formats, bad rows, idempotent re-runs, limits and progress."""

import asyncio
import io
import json

import pytest
from commerce_catalog import bulk
from commerce_catalog.cli import import_file
from commerce_catalog.models import BulkJob, BulkJobChunk, Product
from commerce_catalog.settings import CatalogSettings
from sqlalchemy import func, select

from commerce_kernel import hookimpl

CSV = (
    "sku,name,description,price,stock,is_active\n"
    "A-1,Apple,Fresh,1.00,10,true\n"
    "A-2,Banana,,0.50,5,yes\n"
    "A-3,Cherry,Red,1.001,5,true\n"  # row 3: too many digits
    ",Nameless,,1.00,1,true\n"  # row 4: no SKU
    "A-5,Date,,2.00,-1,true\n"  # row 5: negative stock
    "A-6,,,2.00,1,true\n"  # row 6: new product without a name
    "a-7,Elder,,3.00,2,no\n"
    "A-8,Fig,,abc,2,maybe\n"  # row 8: bad price and flag
)


@pytest.fixture
def chunk_rows(kernel, monkeypatch):
    def set_rows(n):
        monkeypatch.setattr(kernel.section(CatalogSettings), "catalog_bulk_chunk_rows", n)

    return set_rows


async def upload(client, content, filename="products.csv", content_type="text/csv"):
    r = await client.post(
        "/api/products/bulk_upload/", files={"file": (filename, content, content_type)}
    )
    assert r.status_code == 202, r.text
    return r.json()


async def finished(client, kernel, accepted):
    await kernel.queue.drain(timeout=60)
    for _ in range(600):
        r = await client.get(accepted["status_url"])
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("succeeded", "failed"):
            return r.json()
        await asyncio.sleep(0.05)
    raise AssertionError("the job did not finish")


async def product_count(kernel):
    async with kernel.db.session() as session:
        return (await session.execute(select(func.count()).select_from(Product))).scalar_one()


async def test_csv_with_broken_rows(admin_client, kernel, chunk_rows):
    chunk_rows(3)
    accepted = await upload(admin_client, CSV.encode())
    assert set(accepted) == {"job_id", "status_url"}
    assert accepted["status_url"].endswith(f"/api/products/bulk_upload/{accepted['job_id']}/")
    status = await finished(admin_client, kernel, accepted)
    assert status["status"] == "succeeded"
    assert (status["total"], status["processed"]) == (8, 8)
    assert (status["created"], status["updated"], status["failed"]) == (3, 0, 5)
    errors = {(e["row"], e["field"]) for e in status["errors"]}
    assert errors == {
        (3, "price"),
        (4, "sku"),
        (5, "stock"),
        (6, "name"),
        (8, "price"),
        (8, "is_active"),
    }
    assert {e["sku"] for e in status["errors"] if e["row"] == 3} == {"A-3"}
    r = await admin_client.get("/api/products/?ordering=name")
    products = {p["sku"]: p for p in r.json()["results"]}
    assert set(products) == {"A-1", "A-2", "A-7"}
    assert products["A-7"]["is_active"] is False
    assert products["A-2"]["price"] == "0.50" and products["A-2"]["description"] == ""


async def test_reupload_changes_nothing_and_changes_count_as_updated(admin_client, kernel):
    first = await finished(admin_client, kernel, await upload(admin_client, CSV.encode()))
    assert first["created"] == 3
    again = await finished(admin_client, kernel, await upload(admin_client, CSV.encode()))
    assert (again["created"], again["updated"], again["failed"]) == (0, 0, 5)
    changed = CSV.replace("A-1,Apple,Fresh,1.00,10", "A-1,Apple,Fresh,1.10,10")
    third = await finished(admin_client, kernel, await upload(admin_client, changed.encode()))
    assert (third["created"], third["updated"]) == (0, 1)
    assert await product_count(kernel) == 3


async def test_json_array_body(admin_client, kernel):
    rows = [
        {"sku": "j-1", "name": "One", "price": "1.00", "stock": 1},
        {"sku": "j-2", "name": "Two", "price": 2, "is_active": False},
        {"sku": "j-3", "name": "Three", "price": "3.333"},
        "not an object",
    ]
    r = await admin_client.post("/api/products/bulk_upload/", json=rows)
    assert r.status_code == 202, r.text
    status = await finished(admin_client, kernel, r.json())
    assert (status["total"], status["created"], status["failed"]) == (4, 2, 2)
    assert {(e["row"], e["field"]) for e in status["errors"]} == {(3, "price"), (4, None)}


async def test_json_lines_file(admin_client, kernel):
    lines = [
        json.dumps({"sku": "L-1", "name": "One", "price": "1.00"}),
        "",
        "{broken",
        json.dumps({"sku": "L-2", "name": "Two", "price": "2.00", "description": "d"}),
    ]
    accepted = await upload(
        admin_client, "\n".join(lines).encode(), "p.jsonl", "application/x-ndjson"
    )
    status = await finished(admin_client, kernel, accepted)
    assert (status["total"], status["created"], status["failed"]) == (3, 2, 1)
    assert status["errors"][0]["row"] == 3


async def test_partial_rows_update_only_given_columns(admin_client, kernel):
    await finished(admin_client, kernel, await upload(admin_client, CSV.encode()))
    status = await finished(
        admin_client, kernel, await upload(admin_client, b"sku,stock\nA-1,99\nNEW-1,1\n")
    )
    assert (status["created"], status["updated"], status["failed"]) == (0, 1, 1)
    assert {e["field"] for e in status["errors"]} == {"name", "price"}
    r = await admin_client.get("/api/products/?search=a-1")
    (p,) = r.json()["results"]
    assert (p["stock"], p["name"], p["price"]) == (99, "Apple", "1.00")


async def test_repeated_sku_last_row_wins(admin_client, kernel, chunk_rows):
    chunk_rows(2)
    content = b"sku,name,price\nR-1,First,1.00\nR-2,Other,1.00\nr-1,Last,3.00\n"
    status = await finished(admin_client, kernel, await upload(admin_client, content))
    assert (status["created"], status["failed"]) == (2, 1)
    assert status["errors"][0]["row"] == 1 and "row 3" in status["errors"][0]["message"]
    r = await admin_client.get("/api/products/?search=r-1")
    assert [p["name"] for p in r.json()["results"]] == ["Last"]


async def test_header_only_file_succeeds_at_once(admin_client, kernel):
    status = await finished(admin_client, kernel, await upload(admin_client, b"sku,name\n"))
    assert (status["status"], status["total"]) == ("succeeded", 0)


UNREADABLE = [
    b"",  # empty
    b"  \n",  # blank
    b"name,price\nA,1.00\n",  # no sku column
    b"\xff\xfe\x00sku\n",  # not UTF-8
    b"[1, 2",  # a JSON array that does not parse
    b'{"sku": "A"}'.replace(b"{", b"[", 1),  # starts like an array, is not one
]


@pytest.mark.parametrize("content", UNREADABLE)
async def test_unreadable_file_is_422(admin_client, content):
    r = await admin_client.post(
        "/api/products/bulk_upload/", files={"file": ("p.csv", content, "text/csv")}
    )
    assert r.status_code == 422, r.text


async def test_upload_needs_a_file(admin_client):
    r = await admin_client.post("/api/products/bulk_upload/", data={"other": "x"})
    assert r.status_code == 415  # a form is not one of the upload media types
    r = await admin_client.post(
        "/api/products/bulk_upload/", files={"other": ("p.csv", b"sku\n", "text/csv")}
    )
    assert r.status_code == 422


async def test_upload_and_status_are_admin_only(customer_client, client, admin_client, kernel):
    for c, code in ((customer_client, 403), (client, 401)):
        r = await c.post("/api/products/bulk_upload/", files={"file": ("p.csv", b"sku\n")})
        assert r.status_code == code
    accepted = await upload(admin_client, CSV.encode())
    assert (await customer_client.get(accepted["status_url"])).status_code == 403
    assert (await client.get(accepted["status_url"])).status_code == 401
    assert (await admin_client.get("/api/products/bulk_upload/nope/")).status_code == 404
    await kernel.queue.drain()


async def test_too_large_upload_is_413(admin_client, kernel, monkeypatch):
    monkeypatch.setattr(kernel.section(CatalogSettings), "bulk_upload_max_bytes", 1000)
    big = CSV.encode() + b"B-1,x,,1.00,1,true\n" * 100
    r = await admin_client.post(
        "/api/products/bulk_upload/", files={"file": ("p.csv", big, "text/csv")}
    )
    assert r.status_code == 413
    r = await admin_client.post(
        "/api/products/bulk_upload/", content=big, headers={"content-type": "text/csv"}
    )
    assert r.status_code == 413

    async def stream():
        # No Content-Length: the limit is enforced while the body arrives.
        for _ in range(100):
            yield b"B-1,x,,1.00,1,true\n"

    r = await admin_client.post(
        "/api/products/bulk_upload/", content=stream(), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 413
    assert await product_count(kernel) == 0


async def job_count(kernel):
    async with kernel.db.session() as session:
        return (await session.execute(select(func.count()).select_from(BulkJob))).scalar_one()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
async def test_more_rows_than_the_limit_is_413_and_stores_nothing(
    admin_client, kernel, monkeypatch, fmt
):
    monkeypatch.setattr(kernel.section(CatalogSettings), "catalog_bulk_max_rows", 5)

    def file(n):
        rows = [{"sku": f"L-{i}", "name": "x", "price": "1.00"} for i in range(n)]
        return {
            "csv": ("sku,name,price\n" + "".join(f"L-{i},x,1.00\n" for i in range(n))).encode(),
            "jsonl": b"\n".join(json.dumps(r).encode() for r in rows),
            "json": json.dumps(rows).encode(),
        }[fmt]

    r = await admin_client.post(
        "/api/products/bulk_upload/", files={"file": (f"p.{fmt}", file(6), "text/plain")}
    )
    assert r.status_code == 413, r.text
    assert "CATALOG_BULK_MAX_ROWS" in r.json()["detail"]
    assert (await job_count(kernel), await product_count(kernel)) == (0, 0)
    # At the limit it is taken.
    status = await finished(admin_client, kernel, await upload(admin_client, file(5)))
    assert (status["total"], status["created"]) == (5, 5)


async def test_a_chunk_keeps_its_first_errors_and_counts_the_rest(admin_client, kernel):
    bad = "sku,name,price\n" + "".join(f"E-{i},x,nope\n" for i in range(250)) + "E-OK,x,1.00\n"
    status = await finished(admin_client, kernel, await upload(admin_client, bad.encode()))
    assert (status["total"], status["failed"], status["created"]) == (251, 250, 1)
    kept, summary = status["errors"][:-1], status["errors"][-1]
    assert [e["row"] for e in kept] == list(range(1, bulk.ERRORS_KEPT_PER_CHUNK + 1))
    assert summary["row"] is None
    assert summary["message"].startswith("150 more errors in rows 1-251 are not listed")


async def test_json_numbers_stay_exact(admin_client, kernel):
    body = (
        b'[{"sku": "N-1", "name": "Exact", "price": 19.99, "stock": 3.0},'
        b' {"sku": "N-2", "name": "Half", "price": 1.5, "stock": 1.5}]'
    )
    r = await admin_client.post(
        "/api/products/bulk_upload/", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 202, r.text
    status = await finished(admin_client, kernel, r.json())
    assert (status["created"], status["failed"]) == (1, 1)
    assert [(e["sku"], e["field"]) for e in status["errors"]] == [("N-2", "stock")]
    product = (await admin_client.get("/api/products/?search=exact")).json()["results"][0]
    assert (product["price"], product["stock"]) == ("19.99", 3)


async def test_progress_grows_chunk_by_chunk(kernel, chunk_rows, monkeypatch):
    chunk_rows(10)
    content = "sku,name,price\n" + "".join(f"G-{i},Good {i},1.00\n" for i in range(45))
    enqueued = []

    async def hold(name, *args, **kw):
        enqueued.append(args)

    monkeypatch.setattr(kernel.queue, "enqueue", hold)
    job_id = await bulk.create_job(kernel, io.BytesIO(content.encode()), filename="g.csv")
    assert len(enqueued) == 5
    seen = [(await bulk.job_status(kernel, job_id)).processed]
    assert (await bulk.job_status(kernel, job_id)).status == "queued"
    for job, seq in enqueued:
        await bulk.run_chunk(kernel, job, seq)
        status = await bulk.job_status(kernel, job_id)
        seen.append(status.processed)
    assert seen == [0, 10, 20, 30, 40, 45]
    assert status.status == "succeeded" and status.created == 45
    # A chunk run again (a retry after a crash) changes nothing and counts nothing twice.
    await bulk.run_chunk(kernel, job_id, 0)
    assert (await bulk.job_status(kernel, job_id)).model_dump() == status.model_dump()
    assert await product_count(kernel) == 45


async def test_status_while_running_over_http(admin_client, kernel, chunk_rows):
    chunk_rows(5)
    content = "sku,name,price\n" + "".join(f"H-{i},H {i},1.00\n" for i in range(60))
    accepted = await upload(admin_client, content.encode())
    # On Redis nothing runs the jobs unless asked: run them (arq burst) while polling.
    runner = asyncio.create_task(kernel.queue.drain(timeout=60))
    seen = []
    for _ in range(1000):
        body = (await admin_client.get(accepted["status_url"])).json()
        seen.append(body["processed"])
        if body["status"] == "succeeded":
            break
        await asyncio.sleep(0.01)
    await runner
    assert seen == sorted(seen) and seen[-1] == 60


async def test_failed_chunk_fails_the_job(admin_client, kernel):
    job_id = await bulk.create_job(kernel, io.BytesIO(CSV.encode()), filename="p.csv")
    await kernel.queue.drain()
    await bulk.fail_chunk(kernel, job_id, 0, "chunk 0 failed: OperationalError")
    status = await bulk.job_status(kernel, job_id)
    assert status.status == "succeeded"  # already done: a late failure changes nothing
    async with kernel.db.transaction() as session:
        chunk = await session.get(BulkJobChunk, (job_id, 0))
        chunk.status = "pending"
        job = await session.get(bulk.BulkJob, job_id)
        job.status = "running"
    await bulk.fail_chunk(kernel, job_id, 0, "chunk 0 failed: OperationalError")
    status = await bulk.job_status(kernel, job_id)
    assert status.status == "failed"
    assert status.errors[0].row is None and "OperationalError" in status.errors[0].message


async def test_cli_import(kernel, tmp_path, spawn):
    if kernel.settings.redis_url:
        spawn("worker", "--no-cron")  # on Redis the CLI only follows; workers run the chunks
    path = tmp_path / "products.csv"
    path.write_text(CSV)
    out = io.StringIO()
    code = await import_file(kernel, path, out=out, timeout=60)
    text = out.getvalue()
    assert code == 1, text  # rows failed: a script running the import must notice
    assert "succeeded: 8 rows, 3 created, 0 updated, 5 failed" in text
    assert "row 3 A-3 price" in text
    again = await import_file(kernel, path, out=io.StringIO(), timeout=60, allow_errors=True)
    assert again == 0
    missing = await import_file(kernel, tmp_path / "nope.csv", out=io.StringIO())
    assert missing == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("name\nx\n")
    assert await import_file(kernel, bad, out=io.StringIO()) == 2


async def test_bulk_changes_fire_product_hooks(admin_client, kernel, listen):
    seen = []

    class Listener:
        @hookimpl
        async def product_created(self, kernel, product):
            seen.append(("created", product["sku"], product["price"]))

        @hookimpl
        async def product_updated(self, kernel, product, changed):
            seen.append(("updated", product["sku"], changed))

    listen(Listener())
    await finished(
        admin_client, kernel, await upload(admin_client, b"sku,name,price\nH-1,H,1.00\n")
    )
    await finished(admin_client, kernel, await upload(admin_client, b"sku,price\nH-1,2.00\n"))
    assert seen == [("created", "H-1", "1.00"), ("updated", "H-1", ["price"])]


async def test_a_finished_job_is_announced_once_as_its_status_shows_it(
    admin_client, kernel, listen, chunk_rows
):
    seen = []

    class Listener:
        @hookimpl
        async def bulk_upload_finished(self, kernel, event_id, job):
            seen.append((event_id, job))

    listen(Listener())
    chunk_rows(3)  # three chunks finishing on their own: the last one settles the job
    status = await finished(admin_client, kernel, await upload(admin_client, CSV.encode()))
    await finished(admin_client, kernel, await upload(admin_client, b"sku,name\n"))
    assert [job for _, job in seen] == [
        status,
        {
            **status,
            "job_id": seen[1][1]["job_id"],
            "total": 0,
            "processed": 0,
            "created": 0,
            "failed": 0,
            "errors": [],
        },
    ]
    assert len({event_id for event_id, _ in seen}) == 2

    # A job whose chunk keeps failing: announced once, as failed, however often it fails.
    job_id = await bulk.create_job(kernel, io.BytesIO(CSV.encode()), filename="p.csv")
    await kernel.queue.drain()
    async with kernel.db.transaction() as session:
        (await session.get(BulkJobChunk, (job_id, 0))).status = "pending"
        (await session.get(bulk.BulkJob, job_id)).status = "running"
    seen.clear()
    await bulk.fail_chunk(kernel, job_id, 0, "chunk 0 failed: OperationalError")
    await bulk.fail_chunk(kernel, job_id, 0, "chunk 0 failed: OperationalError")
    [(_, job)] = seen
    assert job["job_id"] == job_id and job["status"] == "failed"
    assert "OperationalError" in job["errors"][0]["message"]


async def test_bulk_rename_is_searchable_and_stock_feed_keeps_search(admin_client, kernel):
    await finished(admin_client, kernel, await upload(admin_client, CSV.encode()))
    feed = b"sku,stock,name\nA-1,1,Apple\nA-2,2,Plantain\n"
    status = await finished(admin_client, kernel, await upload(admin_client, feed))
    assert status["updated"] == 2
    found = await admin_client.get("/api/products/?search=plantain")
    assert [p["sku"] for p in found.json()["results"]] == ["A-2"]
    assert (await admin_client.get("/api/products/?search=banana")).json()["count"] == 0
    found = await admin_client.get("/api/products/?search=apple")
    assert [(p["sku"], p["stock"]) for p in found.json()["results"]] == [("A-1", 1)]


async def test_a_json_body_that_is_no_array_is_422_and_nothing_is_queued(admin_client, kernel):
    for body in (b'{"sku": "x"}', b'{"sku": "A-1", "name": "a", "price": "1.00"}\n', b'"x"'):
        r = await admin_client.post(
            "/api/products/bulk_upload/",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422, r.text
        assert "JSON array" in r.json()["detail"]
    async with kernel.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(BulkJob)) == 0
    # The same JSON lines under their own media type are taken.
    lines = b'{"sku": "A-1", "name": "a", "price": "1.00"}\n'
    r = await admin_client.post(
        "/api/products/bulk_upload/",
        content=lines,
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 202, r.text
