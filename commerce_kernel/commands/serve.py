"""`commerce serve`: the HTTP and WebSocket server (uvicorn)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette

from commerce_kernel.app import create_app
from commerce_kernel.commands import Command, database_shown
from commerce_kernel.logging import configure_logging
from commerce_kernel.mail import refuse_mail_to_log

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel

logger = logging.getLogger("commerce.serve")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers", type=int, default=1, help="app processes (needs REDIS_URL if > 1)"
    )


def app_factory() -> Starlette:
    """What each of several app processes builds (`--workers N`): plugins from settings."""
    from commerce_kernel.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def run(args: argparse.Namespace, kernel: Kernel) -> int:
    settings = kernel.settings
    if settings.database_configured and not settings.secret_key:
        print("error: SECRET_KEY is required when DATABASE_URL is set", file=sys.stderr)
        return 2
    # Before uvicorn: refused in its lifespan, it would print a traceback, not one line.
    refuse_mail_to_log(settings, kernel.mailer)
    if args.workers > 1 and not settings.redis_url:
        print(
            "error: --workers > 1 needs REDIS_URL (the in-process queue and pub/sub "
            "live in one process)",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level)
    # The database `commerce migrate` must have upgraded: it prints the same words.
    logger.info(
        "starting the server on http://%s:%s, database %s",
        args.host,
        args.port,
        database_shown(settings.database_url),
        extra={"plugins": kernel.plugin_names},
    )
    options = dict(
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        server_header=False,  # no `server: uvicorn` banner, in one process or several
        # The app resolves X-Forwarded-* itself, from TRUSTED_PROXIES only (uvicorn's own
        # handling would trust loopback by default).
        proxy_headers=False,
        lifespan="on",
        ws="websockets-sansio",
        # A WebSocket message larger than a request body may be is refused by the protocol
        # (close 1009) before it is buffered whole; endpoints may set lower limits.
        ws_max_size=settings.max_request_bytes,
    )
    if args.workers > 1:
        # Each process loads the plugins itself.
        uvicorn.run(
            "commerce_kernel.commands.serve:app_factory",
            factory=True,
            workers=args.workers,
            **options,
        )
    else:
        uvicorn.run(create_app(kernel=kernel), **options)
    return 0


command = Command("serve", "run the HTTP/WebSocket server (uvicorn)", run, configure)
