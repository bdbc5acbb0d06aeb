"""The kernel's own contributions, made through the same hooks as any plugin: health, identity
routes, the OpenAPI document and docs page, the mail task and the accounts migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from commerce_kernel import __version__
from commerce_kernel.errors import NotFound, ServiceUnavailable
from commerce_kernel.identity import Account, AccountOut, TokenPair, signed_in
from commerce_kernel.mail import Mail
from commerce_kernel.plugins import Plugin, hookimpl
from commerce_kernel.routing import JSON, Call, api_route, routes_from
from commerce_kernel.tasks import Task, TaskContext

plugin = Plugin(
    name="kernel", version=__version__, description="Accounts, tokens, health, OpenAPI and mail."
)


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@api_route(
    "/api/health/", summary="Liveness: 200 while the process runs", tags=["kernel"], response=Health
)
async def health(call: Call) -> Any:
    return {"status": "ok"}


@api_route(
    "/api/ready/",
    summary="Readiness: 200 only when the database (and Redis) answer",
    tags=["kernel"],
    response=Readiness,
    responses={503: "A backend is down"},
)
async def ready(call: Call) -> Any:
    kernel = call.kernel
    checks: dict[str, str] = {}

    async def check(name: str, probe: Any) -> None:
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


@api_route(
    "/api/auth/token/refresh/",
    "POST",
    body=RefreshIn,
    response=TokenPair,
    summary="Trade a refresh token for a new pair (same audience)",
    tags=["auth"],
    responses={401: "Invalid, expired or reused refresh token"},
)
async def refresh(call: Call) -> Any:
    async with call.kernel.db.session() as session:
        pair = await call.kernel.tokens.rotate(session, call.body.refresh_token)
        await session.commit()
    return pair


@api_route(
    "/api/auth/logout/",
    "POST",
    body=RefreshIn,
    status=204,
    summary="Revoke a refresh token and every token rotated from it",
    tags=["auth"],
)
async def logout(call: Call) -> Any:
    async with call.kernel.db.transaction() as session:
        await call.kernel.tokens.revoke(session, call.body.refresh_token)
    return None


@api_route(
    "/api/auth/me/",
    guard=signed_in,
    response=AccountOut,
    summary="The signed-in account",
    tags=["auth"],
)
async def me(call: Call) -> Any:
    async with call.kernel.db.session() as session:
        account = await session.get(Account, call.account_id)
    if account is None or not account.is_active:
        raise NotFound("The account no longer exists.")
    return AccountOut.model_validate(account)


async def openapi_json(request: Request) -> Response:
    return JSON(request.app.state.openapi)


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>commerce-kernel API</title>
<link rel="stylesheet" href="/api/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/static/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body></html>"""

DOCS_JS = """window.ui = SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, presets: [SwaggerUIBundle.presets.apis]});"""


async def docs(request: Request) -> Response:
    return HTMLResponse(
        DOCS_HTML, headers={"Content-Security-Policy": "default-src 'self'; img-src 'self' data:"}
    )


async def docs_js(request: Request) -> Response:
    return Response(DOCS_JS, media_type="application/javascript")


async def send_mail(ctx: TaskContext, mail: dict[str, Any]) -> None:
    """Deliver one message (retried with backoff while the mail server fails)."""
    await ctx.kernel.mailer.send(Mail.from_dict(mail))


@hookimpl
def routes(kernel: Any) -> list[BaseRoute]:
    from openapi_ui_bundles import swagger_ui
    from starlette.routing import Route

    return [
        *routes_from(health, ready, refresh, logout, me),
        Route("/api/openapi.json", openapi_json, methods=["GET"], include_in_schema=False),
        Route("/api/docs/", docs, methods=["GET"], include_in_schema=False),
        Route("/api/docs/init.js", docs_js, methods=["GET"], include_in_schema=False),
        Mount(
            "/api/docs/static",
            StaticFiles(directory=str(swagger_ui.static_path)),
            name="docs-static",
        ),
    ]


@hookimpl
def tasks(kernel: Any) -> list[Task]:
    # A short timeout: on Redis, a job whose worker was SIGKILLed runs again only after the
    # longest task timeout of the deployment + 10 s (arq's in-progress key).
    return [Task("kernel.send_mail", send_mail, max_tries=8, timeout=30)]


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"
