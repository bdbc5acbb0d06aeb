"""Liveness and readiness: `GET /api/health/` and `GET /api/ready/`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from starlette.routing import BaseRoute

from commerce_kernel.errors import ServiceUnavailable
from commerce_kernel.identity import anonymous
from commerce_kernel.routing import Call, api_route, routes_from


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@api_route(
    "/api/health/",
    guard=anonymous,
    summary="Liveness: 200 while the process runs",
    tags=["kernel"],
    response=Health,
)
async def health(call: Call) -> dict[str, str]:
    return {"status": "ok"}


@api_route(
    "/api/ready/",
    guard=anonymous,
    summary="Readiness: 200 only when the database (and Redis) answer",
    tags=["kernel"],
    response=Readiness,
    responses={503: "A backend is down"},
)
async def ready(call: Call) -> dict[str, object]:
    kernel = call.kernel
    checks: dict[str, str] = {}

    async def check(name: str, probe: Callable[[], Awaitable[None]]) -> None:
        try:
            await asyncio.wait_for(probe(), 3)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"unavailable ({type(exc).__name__})"

    await check("database", kernel.db.ping)
    if kernel.settings.redis_url:
        await check("redis", kernel.queue.ping)
    if any(v != "ok" for v in checks.values()):
        raise ServiceUnavailable(
            "Not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items()), checks=checks
        )
    return {"status": "ok", "checks": checks}


def routes() -> list[BaseRoute]:
    return list(routes_from(health, ready))
