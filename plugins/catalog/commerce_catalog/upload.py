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

MULTIPART = "multipart/form-data"
# The media types of a file sent as the whole body. The format is read from the content
# (`[` a JSON array, `{` JSON lines, else CSV); the type says only that the body is a file.
BODY_MEDIA_TYPES = ("application/json", "application/x-ndjson", "application/jsonl", "text/csv")
ACCEPTED = ", ".join((MULTIPART, *BODY_MEDIA_TYPES))


@dataclass
class Upload:
    file: IO[bytes]
    filename: str
    content_type: str


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The upload is larger than {limit} bytes (BULK_UPLOAD_MAX_BYTES).")


async def receive(request: Request, limit: int) -> Upload:
    """The uploaded file; 413 past `limit` bytes of body, 415 for a body of another media
    type than `ACCEPTED` (or none)."""
    refuse_declared_oversize(request, limit, _too_large)
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == MULTIPART:
        return await _multipart(request, limit)
    if media_type not in BODY_MEDIA_TYPES:
        sent = f"`{media_type}`" if media_type else "no Content-Type"
        raise Problem(
            f"The upload was sent with {sent}. Send the file as {MULTIPART} (field `file`), "
            f"or as the body with Content-Type {', '.join(BODY_MEDIA_TYPES)}.",
            status=415,
            headers={"Accept-Post": ACCEPTED},
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
