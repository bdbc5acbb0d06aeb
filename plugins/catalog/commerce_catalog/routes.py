"""HTTP handlers of the catalog: parse, call the service, answer."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from commerce_catalog import bulk, service, upload
from commerce_catalog.schemas import (
    BulkAccepted,
    BulkStatus,
    ProductCreate,
    ProductOut,
    ProductPage,
    ProductPatch,
    ProductQuery,
    ProductReplace,
    parse_ordering,
)
from commerce_catalog.settings import CatalogSettings
from commerce_kernel.errors import NotFound
from commerce_kernel.identity import admin, public
from commerce_kernel.pagination import page_response
from commerce_kernel.routing import Call, Link, api_route, routes_from

TAGS = ["catalog"]
# The new product's id feeds its own operations (OpenAPI links, followed by stateful fuzzing).
THE_PRODUCT = {"id": "$response.body#/id"}


@api_route(
    "/api/products/",
    guard=public,
    query=ProductQuery,
    response=ProductPage,
    summary="List products (search, filters, ordering, pages)",
    tags=TAGS,
    responses={
        400: "Unknown ordering field",
        422: "Invalid page, page_size or price filter",
    },
    description="Public. Inactive products are listed only for an admin token. `search`: "
    "every whitespace-separated term must occur, case-insensitively (Unicode case folding), "
    "as a substring of the name, SKU or description.",
)
async def list_products(call: Call) -> dict[str, Any]:
    q: ProductQuery = call.query
    f = service.ProductFilter(
        include_inactive=call.is_admin,
        search=q.search,
        min_price=q.min_price,
        max_price=q.max_price,
        in_stock=q.in_stock,
        ordering=tuple(parse_ordering(q.ordering)),
    )
    count, results = await service.list_products(call.kernel, f, q.offset, q.page_size)
    return page_response(call.request, q, count, results)


@api_route(
    "/api/products/",
    "POST",
    guard=admin,
    body=ProductCreate,
    response=ProductOut,
    status=201,
    summary="Create a product",
    tags=TAGS,
    responses={409: "A product with this SKU exists", 422: "Invalid fields (e.g. price digits)"},
    links=[
        Link(target=op, parameters=THE_PRODUCT)
        for op in ("get_product", "replace_product", "patch_product", "retire_product")
    ],
)
async def create_product(call: Call) -> ProductOut:
    return await service.create_product(call.kernel, call.body.model_dump())


@api_route(
    "/api/products/{id:int}/",
    guard=public,
    response=ProductOut,
    summary="One product",
    tags=TAGS,
    responses={404: "No such product (or inactive, for non-admins)"},
)
async def get_product(call: Call) -> dict[str, Any]:
    return await service.get_product(call.kernel, call.path["id"], include_inactive=call.is_admin)


@api_route(
    "/api/products/{id:int}/",
    "PUT",
    guard=admin,
    body=ProductReplace,
    response=ProductOut,
    summary="Replace a product (every writable field)",
    tags=TAGS,
    responses={404: "No such product", 409: "Another product has this SKU"},
)
async def replace_product(call: Call) -> ProductOut:
    return await service.update_product(call.kernel, call.path["id"], call.body.model_dump())


@api_route(
    "/api/products/{id:int}/",
    "PATCH",
    guard=admin,
    body=ProductPatch,
    response=ProductOut,
    summary="Change some fields of a product",
    tags=TAGS,
    responses={404: "No such product", 409: "Another product has this SKU"},
)
async def patch_product(call: Call) -> ProductOut:
    return await service.update_product(call.kernel, call.path["id"], call.body.changes())


@api_route(
    "/api/products/{id:int}/",
    "DELETE",
    guard=admin,
    status=204,
    summary="Retire a product (it stays, inactive, for past orders)",
    tags=TAGS,
    responses={204: "Retired", 404: "No such product"},
)
async def retire_product(call: Call) -> None:
    await service.retire_product(call.kernel, call.path["id"])


_ROW_RULES = (
    "Columns/keys: `sku, name, description, price, stock, is_active`. Rows upsert by SKU "
    "(trimmed, upper-cased). A SKU repeated within one file: the last row wins; earlier rows "
    "are reported as errors. A missing column, an empty CSV cell (except `description`) or a "
    "null/missing JSON key means not given: new products get the default (description "
    '"", stock 0, is_active true), existing ones keep their value; `name` and `price` are '
    "required for a new product. The format is detected from the content (`[` JSON array, "
    "`{` JSON lines, else CSV with a header row, UTF-8). Uploading the same file again "
    "changes nothing (`created` 0, `updated` 0). Limits: the body at most "
    "BULK_UPLOAD_MAX_BYTES (50 MiB), at most CATALOG_BULK_MAX_ROWS data rows (1,000,000); "
    "the file is read as a stream. Of each chunk of CATALOG_BULK_CHUNK_ROWS rows the first "
    "100 errors are kept (then one saying how many more), and the status lists the first "
    "1000 (`errors_truncated`); `failed` counts every failed row."
)

_UPLOAD_SCHEMA = {
    "type": "object",
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "CSV (header row) or JSON lines",
        }
    },
    "required": ["file"],
}
# Each key's expected value, not its JSON Schema `type`: the upload is taken as a file and a
# row with a wrong value (or no sku) is a failed row of the job, never a refused upload.
_ROW_SCHEMA = {
    "properties": {
        "sku": {"description": "a string (required: a row without one fails)"},
        "name": {"description": "a string"},
        "description": {"description": "a string"},
        "price": {"description": 'a decimal string such as "19.99"'},
        "stock": {"description": "a whole number, 0 or more"},
        "is_active": {"description": "true or false"},
    },
    "description": "A product row, an object; an invalid one (not an object, no sku, a wrong "
    "value) is reported in the job's `errors` while the other rows are stored.",
}
# The file as the whole body (`format: binary`, so generated clients take a file).
_LINES_SCHEMA = {
    "type": "string",
    "format": "binary",
    "description": "JSON lines: one product object a line",
}
_CSV_SCHEMA = {"type": "string", "format": "binary", "description": "CSV with a header row, UTF-8"}


@api_route(
    "/api/products/bulk_upload/",
    "POST",
    guard=admin,
    response=BulkAccepted,
    status=202,
    summary="Upload products in bulk (CSV, JSON lines or a JSON array); runs in the background",
    tags=TAGS,
    request_content={
        upload.MULTIPART: {"schema": _UPLOAD_SCHEMA},
        "application/json": {"schema": {"type": "array", "items": _ROW_SCHEMA}},
        "application/x-ndjson": {"schema": _LINES_SCHEMA},
        "application/jsonl": {"schema": _LINES_SCHEMA},
        "text/csv": {"schema": _CSV_SCHEMA},
    },
    responses={
        202: "Accepted: poll `status_url`",
        400: "Malformed multipart body, or an invalid `Content-Length`",
        413: "Larger than BULK_UPLOAD_MAX_BYTES, or more data rows than CATALOG_BULK_MAX_ROWS "
        "(nothing is queued)",
        415: f"Another Content-Type than {upload.ACCEPTED}, or none (`Accept-Post` lists them)",
        422: "A multipart body without a file in `file`, or a file that cannot be read (empty, "
        "not UTF-8, no sku column, invalid JSON): nothing is queued",
    },
    description=_ROW_RULES,
    links=[Link(target="bulk_status", parameters={"job_id": "$response.body#/job_id"})],
)
async def bulk_upload(call: Call) -> dict[str, str]:
    kernel = call.kernel
    received = await upload.receive(
        call.request, kernel.section(CatalogSettings).bulk_upload_max_bytes
    )
    try:
        job_id = await bulk.create_job(
            kernel,
            received.file,
            filename=received.filename,
            content_type=received.content_type,
            account_id=call.account_id,
        )
    finally:
        received.file.close()
    status_url = call.request.url.replace(path=f"/api/products/bulk_upload/{job_id}/", query="")
    return {"job_id": job_id, "status_url": str(status_url)}


@api_route(
    "/api/products/bulk_upload/{job_id}/",
    guard=admin,
    response=BulkStatus,
    summary="Progress and bad rows of a bulk upload",
    tags=TAGS,
    responses={404: "No such job"},
    description="`processed` grows chunk by chunk while the job runs. `errors` lists every "
    "bad row (first 1000; `errors_truncated` says when there are more) with its 1-based "
    "data row (a CSV header is not counted); an error with `row` null concerns the job.",
)
async def bulk_status(call: Call) -> BulkStatus:
    status = await bulk.job_status(call.kernel, call.path["job_id"])
    if status is None:
        raise NotFound("No such bulk upload job.")
    return status


def routes() -> list[BaseRoute]:
    return list(
        routes_from(
            list_products,
            create_product,
            get_product,
            replace_product,
            patch_product,
            retire_product,
            bulk_upload,
            bulk_status,
        )
    )
