"""The `/live/` page: the screen a shop owner leaves open, the top products by units sold kept
current over `WS /ws/live-counts/`. Its HTML, script, style and icon are package data served
from this origin: nothing is fetched from the internet."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

# The page talks only to this origin (the product list over fetch, the counts over a socket:
# CSP Level 3 'self' covers ws:/wss: to the same host and port); no inline script or style,
# no plugin content, no framing, no forms.
LIVE_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

# The HTML is revalidated on every load (cheap: a 304 against its ETag); it names the
# script, style and icon by content hash, so those can be kept for a year.
PAGE_CACHE = "no-cache"
VERSIONED_CACHE = "public, max-age=31536000, immutable"

ASSETS = {
    "live.js": "text/javascript; charset=utf-8",
    "live.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    """One file of the page, ready to answer with: its bytes, type and validator."""

    body: bytes
    media_type: str

    @cached_property
    def version(self) -> str:
        return hashlib.sha256(self.body).hexdigest()[:16]

    @cached_property
    def etag(self) -> str:
        return f'"{self.version}"'

    def response(self, request: Request, cache_control: str) -> Response:
        headers = {
            "ETag": self.etag,
            "Cache-Control": cache_control,
            "Content-Security-Policy": LIVE_CSP,
        }
        tags = _entity_tags(request.headers.get("if-none-match", ""))
        if self.etag in tags or "*" in tags:
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def _entity_tags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def _static(name: str) -> bytes:
    return (resources.files("commerce_live_counts") / "static" / name).read_bytes()


def load_page() -> tuple[Asset, dict[str, Asset]]:
    """The page and its assets, read from the package; the page names each asset with
    `?v=<content hash>`."""
    assets = {name: Asset(_static(name), media_type) for name, media_type in ASSETS.items()}
    html = _static("live.html").decode()
    for name, asset in assets.items():
        html = html.replace(f'"/live/{name}"', f'"/live/{name}?v={asset.version}"')
    return Asset(html.encode(), "text/html; charset=utf-8"), assets


def routes() -> list[BaseRoute]:
    page, assets = load_page()

    async def live_page(request: Request) -> Response:
        return page.response(request, PAGE_CACHE)

    def serve(asset: Asset) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            # Only the URL the page names is kept for good; any other can be a stale copy.
            versioned = request.query_params.get("v") == asset.version
            return asset.response(request, VERSIONED_CACHE if versioned else PAGE_CACHE)

        return endpoint

    return [
        Route("/live/", live_page, methods=["GET"], include_in_schema=False),
        *(
            Route(f"/live/{name}", serve(asset), methods=["GET"], include_in_schema=False)
            for name, asset in assets.items()
        ),
    ]
