"""The webhooks settings section (environment / .env)."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from commerce_kernel.settings import SectionSettings

# About a day in all (23.7 h): each wait is jittered by up to +-20 %.
DEFAULT_SCHEDULE = "5,30,120,600,1800,3600,7200,14400,28800,28800"


class WebhooksSettings(SectionSettings):
    """`kernel.section(WebhooksSettings)`: delivery, retry and target rules."""

    retry_schedule: str = Field(DEFAULT_SCHEDULE)
    """WEBHOOKS_RETRY_SCHEDULE: seconds to wait before each retry after a failed attempt,
    comma-separated. The default (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h:
    11 attempts over about a day) grows roughly exponentially; each wait is jittered by up to
    20 % either way. After the last retry fails the delivery is `failed`."""
    timeout: float = Field(10.0, gt=0, le=60)
    """WEBHOOKS_TIMEOUT: seconds one POST may take (connect, send, wait, read) before it is
    cut off and counted as a failure."""
    max_response_bytes: int = Field(4096, ge=0, le=1_000_000)
    """WEBHOOKS_MAX_RESPONSE_BYTES: how much of a receiver's response body is read (and kept,
    for the deliveries list); the rest is never read."""
    disable_after: float = Field(3 * 24 * 3600.0, gt=0)
    """WEBHOOKS_DISABLE_AFTER: seconds an endpoint may keep failing (no successful delivery
    since its first failure) before it is disabled and every admin is mailed (3 days)."""
    secret_overlap: float = Field(24 * 3600.0, ge=0)
    """WEBHOOKS_SECRET_OVERLAP: seconds the previous secret stays valid after a rotation;
    meanwhile every delivery is signed with both (two `v1,` signatures)."""
    stock_low_threshold: int = Field(5, ge=0)
    """WEBHOOKS_STOCK_LOW_THRESHOLD: `product.stock_low` is sent when a sale brings a
    product's stock to this many units or fewer (once, until its stock rises above it)."""
    allow_http: bool = False
    """WEBHOOKS_ALLOW_HTTP: accept `http://` endpoint URLs (otherwise only `https://`)."""
    allowed_networks: str = ""
    """WEBHOOKS_ALLOWED_NETWORKS: comma-separated addresses or networks (`127.0.0.1`,
    `10.1.0.0/16`) an endpoint may resolve to although they are loopback, private,
    link-local or otherwise not public. Empty (the default): only public addresses."""

    @field_validator("retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        waits = [float(v) for v in value.split(",") if v.strip()]
        if any(w < 0 for w in waits):
            raise ValueError("waits must not be negative")
        return value

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)
        return value

    @property
    def waits(self) -> list[float]:
        return [float(v) for v in self.retry_schedule.split(",") if v.strip()]

    @property
    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.allowed_networks.split(",")
            if p.strip()
        ]
