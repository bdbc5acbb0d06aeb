"""The live_counts plugin: `WS /ws/live-counts/`, `GET /api/products/{id}/sold_count/` and
the `/live/` page. It listens to the catalog's `sold_counts_changed` event (after commit) and
relays each figure through the kernel's pub/sub, so every server process's sockets hear it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from commerce_kernel import Kernel, Plugin, SectionSettings, hookimpl
from commerce_live_counts import __version__, page, relay
from commerce_live_counts import routes as live_routes
from commerce_live_counts.settings import LiveCountsSettings

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

plugin = Plugin(
    name="live_counts",
    version=__version__,
    requires=("catalog", "orders"),
    kernel=">=0.1,<0.2",
    description="Units sold per product, live over WebSockets, and the /live/ page.",
)


@hookimpl
def settings_section() -> list[type[SectionSettings]]:
    return [LiveCountsSettings]


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    return [*live_routes.routes(), *page.routes()]


@hookimpl
async def sold_counts_changed(kernel: Kernel, event_id: str, counts: list[dict[str, Any]]) -> None:
    relay.publish_soon(kernel, counts)
