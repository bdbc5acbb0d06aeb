"""The webhooks API's request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from commerce_kernel import Body, Page, PageQuery
from commerce_webhooks.models import URL_MAX

EventType = Literal[
    "order.placed",
    "order.status_changed",
    "order.cancelled",
    "product.created",
    "product.updated",
    "product.retired",
    "product.stock_low",
    "bulk_upload.finished",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


def _unique(value: list[str]) -> list[str]:
    return list(dict.fromkeys(value))


EventTypes = Annotated[
    list[EventType],
    Field(min_length=1, description="The event types the endpoint receives (at least one)."),
    AfterValidator(_unique),
]
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=URL_MAX,
        description="Where events are POSTed: https (http only with WEBHOOKS_ALLOW_HTTP), "
        "resolving to public addresses only (unless WEBHOOKS_ALLOWED_NETWORKS allows them).",
    ),
]


class EndpointIn(Body):
    """A new endpoint; its signing secret is generated and shown once, in the answer."""

    url: Url
    event_types: EventTypes
    description: str = Field("", max_length=255)
    enabled: bool = True


class EndpointPatch(Body):
    """Only the fields sent change. `{"enabled": true}` re-enables a disabled endpoint (its
    failure clock starts again); its pending deliveries go out within a minute."""

    url: Url | None = None
    event_types: EventTypes | None = None
    description: str | None = Field(None, max_length=255)
    enabled: bool | None = None

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}


class EndpointOut(BaseModel):
    """An endpoint as admins see it (never its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str = Field(description="Why it was disabled automatically, or empty.")
    failing_since: datetime | None = Field(
        description="The first failed try since the last successful one; null while healthy."
    )
    previous_secret_until: datetime | None = Field(
        description="Until then the previous secret also signs each delivery (after a rotation)."
    )
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    """The new endpoint, with its secret: shown only now."""

    secret: str = Field(description="`whsec_...`: verify signatures with it; shown only once.")


class SecretRotated(BaseModel):
    """The new secret (shown only now); the previous one keeps signing until
    `previous_secret_until`."""

    secret: str
    previous_secret_until: datetime | None


class EndpointPage(Page[EndpointOut]):
    """A page of endpoints, newest first."""


class DeliveryOut(BaseModel):
    """One event for one endpoint and how its delivery went."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint_id: int
    message_id: str = Field(description="The `webhook-id` header and the body's `id`.")
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="The receiver's last HTTP status.")
    last_error: str = Field(description="Why the last try failed (empty when it succeeded).")
    last_response: str = Field(
        description="The start of the receiver's last response body (WEBHOOKS_MAX_RESPONSE_BYTES)."
    )
    last_duration_ms: int | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(Page[DeliveryOut]):
    """A page of deliveries, newest first."""


class DeliveryQuery(PageQuery):
    status: Literal["pending", "succeeded", "failed"] | None = None


class ReplayIn(Body):
    since: datetime = Field(
        description="Replay every failed delivery of the endpoint created at or after this time."
    )


class Replayed(BaseModel):
    replayed: int = Field(description="How many deliveries were queued again.")
