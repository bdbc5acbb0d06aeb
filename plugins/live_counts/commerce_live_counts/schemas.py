"""The frames of `WS /ws/live-counts/` and the HTTP answer, as documented in OpenAPI."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SoldCountOut(BaseModel):
    """A product's units sold: placed orders' units minus cancelled ones."""

    product_id: int
    sold: int


class LiveCountsRequest(BaseModel):
    """A frame the client sends: products to start or stop following (either or both; a
    frame naming neither is answered with an error frame). Unknown ids are ignored."""

    subscribe: list[int] | None = Field(
        None, description="Product ids to follow; answered with a `snapshot` frame"
    )
    unsubscribe: list[int] | None = Field(None, description="Product ids to stop following")


class SnapshotFrame(BaseModel):
    """The answer to a subscribe: the current figure of each known product it named. An
    update whose `seq` is not above this `seq` is already in it (the server sends none)."""

    type: Literal["snapshot"] = "snapshot"
    counts: dict[str, int] = Field(description="Product id (as a string) → units sold")
    seq: int


class SoldCountFrame(BaseModel):
    """A followed product's new figure, after an order placing or cancelling its units
    committed. `seq` is one sequence per deployment that grows with every change; for one
    product, frames arrive in `seq` order."""

    type: Literal["sold_count"] = "sold_count"
    product_id: int
    sold: int
    seq: int


class ErrorFrame(BaseModel):
    """A frame the server could not act on (not JSON, not an object, no known action, bad
    ids, over a limit); the socket stays open."""

    type: Literal["error"] = "error"
    detail: str
