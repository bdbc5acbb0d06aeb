"""Page-number pagination as the API contract has it: `{count, next, previous, results}`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, field_validator
from starlette.requests import Request

from commerce_kernel.errors import NotFound

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 10**12

T = TypeVar("T")


class PageQuery(BaseModel):
    """`?page=1&page_size=20`; sizes above 100 are clamped to 100."""

    # Bounded so the row offset fits the database's 64-bit integers.
    page: int = Field(1, ge=1, le=MAX_PAGE, description="1-based page number")
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, description="items per page (max 100)")

    @field_validator("page_size")
    @classmethod
    def _clamp(cls, value: int) -> int:
        return min(value, MAX_PAGE_SIZE)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class Page(BaseModel, Generic[T]):
    count: int
    next: str | None
    previous: str | None
    results: list[T]


def page_response(
    request: Request, query: PageQuery, count: int, results: Sequence[Any]
) -> dict[str, Any]:
    """The paginated body; a page past the end (other than page 1 of nothing) is 404."""
    if query.page > 1 and query.offset >= count:
        raise NotFound("That page is past the end of the results.")

    def link(page: int) -> str:
        return str(request.url.include_query_params(page=page, page_size=query.page_size))

    has_next = query.offset + len(results) < count
    return {
        "count": count,
        "next": link(query.page + 1) if has_next else None,
        "previous": link(query.page - 1) if query.page > 1 else None,
        "results": list(results),
    }
