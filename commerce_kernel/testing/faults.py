"""Faults a plugin's tests can cause on the test deployment's own services."""

from __future__ import annotations

from typing import Any

from commerce_kernel.tasks.redis import client_name


async def cut_pubsub(kernel: Any) -> int:
    """Close this deployment's Redis pub/sub connections from the server side (`CLIENT KILL`),
    as a Redis restart or a network cut would: what is published until the process has
    subscribed again is lost, and subscribers asked for `gaps` then get a `GAP`. Other
    deployments on the same Redis are not touched. Returns how many were closed (0 on the
    embedded default, which has no connection to lose)."""
    redis = getattr(kernel.pubsub, "redis", None)
    if redis is None:
        return 0
    name = client_name(kernel.settings.redis_prefix)
    closed = 0
    for client in await redis.client_list(_type="pubsub"):
        if client.get("name") == name:
            closed += int(await redis.client_kill_filter(_id=client["id"]))
    return closed
