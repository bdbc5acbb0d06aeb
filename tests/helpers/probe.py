"""Test plugin: endpoints that exercise the kernel's edges, and hooks of every composition."""

from __future__ import annotations

import types
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text

from commerce_kernel import Compose, Plugin, hookimpl, hookspec
from commerce_kernel.routing import Call, api_route, routes_from

specs = types.ModuleType("probe_specs")


@hookspec(Compose.COLLECT)
def probe_collect() -> list[str]:
    """Collect."""


@hookspec(Compose.FIRST)
async def probe_first(x: int) -> str | None:
    """First non-None."""


@hookspec(Compose.PIPELINE, value="value")
async def probe_pipeline(value: list[str]) -> list[str] | None:
    """Pipeline."""


@hookspec(Compose.STRATEGY)
async def probe_strategy() -> str:
    """Strategy."""


@hookspec(Compose.BROADCAST)
async def probe_broadcast(seen: list[str]) -> None:
    """Broadcast."""


@hookspec(Compose.BROADCAST, reverse=True)
async def probe_farewell(seen: list[str]) -> None:
    """Broadcast in reverse plugin order (like shutdown)."""


for _f in (
    probe_collect,
    probe_first,
    probe_pipeline,
    probe_strategy,
    probe_broadcast,
    probe_farewell,
):
    setattr(specs, _f.__name__, _f)

plugin = Plugin(name="probe", version="0.0.1", hookspecs=specs)


class EchoIn(BaseModel):
    name: str = Field(min_length=1)
    quantity: int = Field(ge=1)


@api_route("/api/probe/echo/", "POST", body=EchoIn, summary="Echo")
async def echo(call: Call) -> Any:
    return call.body


@api_route("/api/probe/boom/", summary="Fails")
async def boom(call: Call) -> Any:
    raise RuntimeError("internal detail password=hunter2")


@api_route("/api/probe/db/", summary="Touches the database")
async def db(call: Call) -> Any:
    async with call.kernel.db.session() as session:
        return {"one": (await session.execute(text("SELECT 1"))).scalar_one()}


@hookimpl
def routes(kernel: Any) -> list[Any]:
    return list(routes_from(echo, boom, db))


@hookimpl
def probe_collect() -> list[str]:
    return ["probe-1", "probe-2"]


@hookimpl
async def probe_first(x: int) -> str | None:
    return None


@hookimpl
async def probe_pipeline(value: list[str]) -> list[str]:
    return [*value, "probe"]


@hookimpl
async def probe_strategy() -> str:
    return "default"


@hookimpl
async def probe_broadcast(seen: list[str]) -> None:
    seen.append("probe")


@hookimpl
async def probe_farewell(seen: list[str]) -> None:
    seen.append("probe")


@hookspec(Compose.BROADCAST, isolate=True)
async def probe_announce(seen: list[str]) -> None:
    """Isolated broadcast."""


specs.probe_announce = probe_announce


@hookimpl
async def probe_announce(seen: list[str]) -> None:
    raise RuntimeError("one listener fails")
