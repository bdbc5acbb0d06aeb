"""Receiving a bulk upload within a size limit: a multipart `file` field or a raw body,
spooled to a temporary file so a large upload is never held whole in memory."""

from __future__ import annotations

from dataclasses import dataclass
from tempfile import SpooledTemporaryFile
from typing import IO

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from commerce_kernel.errors import BadRequest, PayloadTooLarge, Problem, UnprocessableEntity
from commerce_kernel.routing import limited_stream, refuse_declared_oversize

SPOOL_IN_MEMORY = 1024 * 1024


@dataclass
class Upload:
    file: IO[bytes]
    filename: str
    content_type: str


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The upload is larger than {limit} bytes (BULK_UPLOAD_MAX_BYTES).")


async def receive(request: Request, limit: int) -> Upload:
    """The uploaded file; 413 past `limit` bytes of body, 415 for a body that is no file."""
    refuse_declared_oversize(request, limit, _too_large)
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        return await _multipart(request, limit)
    if media_type in ("", "application/x-www-form-urlencoded"):
        raise Problem(
            "Send the file as multipart/form-data (field `file`), or a JSON array, "
            "JSON lines or CSV body with its content type.",
            status=415,
        )
    spool: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    try:
        async for chunk in limited_stream(request, limit, _too_large):
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return Upload(spool, "", media_type)


async def _multipart(request: Request, limit: int) -> Upload:
    # limited_stream is an async generator function, annotated as returning an iterator.
    body = limited_stream(request, limit, _too_large)
    parser = MultiPartParser(request.headers, body, max_files=1, max_fields=20)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"Malformed multipart body: {exc.message}") from None
    file = form.get("file")
    for value in form.values():
        if isinstance(value, UploadFile) and value is not file:
            await value.close()
    if not isinstance(file, UploadFile):
        raise UnprocessableEntity(
            "The multipart body has no file in the field `file`.",
            errors=[{"loc": ["body", "file"], "msg": "a file is required"}],
        )
    file.file.seek(0)
    return Upload(file.file, file.filename or "", (file.content_type or "").lower())
