"""The OpenAPI document (`/api/openapi.json`) and its Swagger UI page (`/api/docs/`), served
from the openapi-ui-bundles package: nothing is fetched from the internet; `/` leads there."""

from __future__ import annotations

from openapi_ui_bundles import swagger_ui
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from commerce_kernel.routing import JSON


async def openapi_json(request: Request) -> Response:
    return JSON(request.app.state.openapi)


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>commerce-kernel API</title>
<link rel="stylesheet" href="/api/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/static/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body></html>"""

# validatorUrl null: Swagger UI would otherwise load a badge from validator.swagger.io.
DOCS_JS = """window.ui = SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, validatorUrl: null, presets: [SwaggerUIBundle.presets.apis]});"""

# Everything the page needs is served from this origin (the bundle's SVG icons are `data:`
# images); no inline script, no plugin content, no framing, forms post nowhere else.
DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


async def docs(request: Request) -> Response:
    return HTMLResponse(DOCS_HTML, headers={"Content-Security-Policy": DOCS_CSP})


ROOT_TEXT = "The API is documented at /api/docs/ (the OpenAPI document: /api/openapi.json).\n"


async def root(request: Request) -> Response:
    # A person opening the server's address lands on the docs; curl shows where they are.
    return Response(
        ROOT_TEXT, status_code=302, headers={"Location": "/api/docs/"}, media_type="text/plain"
    )


async def docs_js(request: Request) -> Response:
    return Response(DOCS_JS, media_type="application/javascript")


def routes() -> list[BaseRoute]:
    return [
        Route("/", root, methods=["GET"], include_in_schema=False),
        Route("/api/openapi.json", openapi_json, methods=["GET"], include_in_schema=False),
        Route("/api/docs/", docs, methods=["GET"], include_in_schema=False),
        Route("/api/docs/init.js", docs_js, methods=["GET"], include_in_schema=False),
        Mount(
            "/api/docs/static",
            StaticFiles(directory=str(swagger_ui.static_path)),
            name="docs-static",
        ),
    ]
