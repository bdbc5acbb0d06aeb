"""The `commerce` command line: serve, migrate, worker, createsuperuser, plugins, openapi, ..."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from commerce_kernel import __version__
from commerce_kernel.plugins import PluginError
from commerce_kernel.settings import MissingSecretKey


@dataclass(frozen=True)
class Command:
    """A CLI subcommand a plugin contributes (hook `cli_commands`).

    `configure` adds arguments to its argparse parser; `run(args, kernel)` does the work and
    returns an exit code (it may be a coroutine: it then runs with the kernel started).
    """

    name: str
    help: str
    run: Callable[[argparse.Namespace, Any], Any]
    configure: Callable[[argparse.ArgumentParser], None] | None = None


def _kernel(args: argparse.Namespace | None = None) -> Any:
    from commerce_kernel.app import Kernel
    from commerce_kernel.logging import configure_logging
    from commerce_kernel.settings import Settings

    settings = Settings()
    configure_logging(os.environ.get("LOG_LEVEL", "WARNING"))
    return Kernel.load(settings)


async def _with_kernel(kernel: Any, coro_fn: Callable[[Any], Any]) -> Any:
    async with kernel.running(run_cron=False):
        return await coro_fn(kernel)


def cmd_migrate(args: argparse.Namespace) -> int:
    from commerce_kernel.migrations_runner import upgrade

    kernel = _kernel()
    applied = asyncio.run(_migrate(kernel, upgrade))
    print(f"migrated: {', '.join(applied) or 'nothing to migrate'}")
    return 0


async def _migrate(kernel: Any, upgrade: Any) -> list[str]:
    try:
        return await upgrade(kernel)
    finally:
        await kernel.db.dispose()


def cmd_makemigrations(args: argparse.Namespace) -> int:
    from commerce_kernel.migrations_runner import makemigrations

    kernel = _kernel()

    async def run() -> Any:
        try:
            return await makemigrations(kernel, args.plugin, args.message)
        finally:
            await kernel.db.dispose()

    script = asyncio.run(run())
    if script is None:
        print(f"no changes in the tables of {args.plugin}: no migration created")
    else:
        print(f"created {script.path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from commerce_kernel.settings import Settings

    settings = Settings()
    if settings.database_configured and not settings.secret_key:
        print("error: SECRET_KEY is required when DATABASE_URL is set", file=sys.stderr)
        return 2
    if args.workers > 1 and not settings.redis_url:
        print(
            "error: --workers > 1 needs REDIS_URL (the in-process queue and pub/sub "
            "live in one process)",
            file=sys.stderr,
        )
        return 2
    _kernel()  # fail fast on plugin errors with one message, before uvicorn starts
    uvicorn.run(
        "commerce_kernel.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        lifespan="on",
        ws="websockets-sansio",
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from commerce_kernel.tasks import build_worker

    kernel = _kernel()
    if not kernel.settings.redis_url:
        print(
            "error: `commerce worker` needs REDIS_URL; without it tasks run inside "
            "`commerce serve`",
            file=sys.stderr,
        )
        return 2
    from commerce_kernel.logging import configure_logging

    configure_logging(kernel.settings.log_level)

    async def run() -> None:
        async with kernel.running(run_cron=False):
            worker = build_worker(
                kernel, burst=args.burst, with_cron=not args.no_cron, max_jobs=args.max_jobs
            )
            try:
                await worker.async_run()
            except asyncio.CancelledError:
                pass  # SIGTERM/SIGINT: arq cancelled its loop and the running jobs
            finally:
                # Let cancelled jobs finish arq's clean-up (requeue, drop the in-progress
                # key) before the loop closes, so they run again at once elsewhere.
                await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
                await worker.close()

    asyncio.run(run())
    return 0


def cmd_createsuperuser(args: argparse.Namespace) -> int:
    email = args.email or (input("Email: ") if sys.stdin.isatty() else None)
    if not email:
        print("error: --email is required", file=sys.stderr)
        return 2
    password = args.password
    if password is None and sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            print("error: the passwords differ", file=sys.stderr)
            return 2
    kernel = _kernel()
    return asyncio.run(
        _with_kernel(kernel, lambda k: create_superuser(k, email, password, args.name or ""))
    )


async def create_superuser(kernel: Any, email: str, password: str | None, name: str = "") -> int:
    from commerce_kernel.errors import Problem
    from commerce_kernel.identity import account_by_email, create_account

    async with kernel.db.transaction() as session:
        account = await account_by_email(session, email)
        if account is None:
            account = await create_account(session, email, name, is_admin=True)
            verb = "created"
        else:
            account.is_admin = True
            verb = "promoted"
        if password:
            try:
                handled = await kernel.hooks.call(
                    "set_password",
                    kernel=kernel,
                    session=session,
                    account_id=account.id,
                    password=password,
                )
            except Problem as exc:
                print(f"error: {exc.detail}", file=sys.stderr)
                await session.rollback()
                return 2
            if not handled:
                print(
                    "error: no enabled plugin stores passwords (install auth_password)",
                    file=sys.stderr,
                )
                await session.rollback()
                return 2
    print(f"{verb} admin {account.email} (id {account.id})")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    kernel = _kernel()
    rows = [
        {
            "name": p.info.name,
            "version": p.info.version,
            "distribution": p.distribution,
            "requires": list(p.info.requires),
            "hooks": sorted(p.hooks),
        }
        for p in kernel.plugins
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        req = f" requires {', '.join(r['requires'])}" if r["requires"] else ""
        print(f"{r['name']} {r['version']} ({r['distribution'] or 'not installed'}){req}")
        print(f"    hooks: {', '.join(r['hooks']) or '-'}")
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    kernel = _kernel()
    doc = kernel.openapi(kernel.routes())
    text = json.dumps(doc, indent=2)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text + "\n")
    else:
        print(text)
    return 0


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from commerce_kernel.scaffold import scaffold

    path = scaffold(args.name, args.directory)
    print(f"created plugin {args.name} in {path}")
    print(f"next: pip install -e {path} && commerce migrate")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Migrate, create an admin and demo data: the embedded default ready to try."""
    from commerce_kernel.migrations_runner import upgrade

    kernel = _kernel()
    password = args.admin_password or secrets.token_urlsafe(12)

    async def run(k: Any) -> int:
        await upgrade(k)
        code = await create_superuser(k, args.admin_email, password, "Admin")
        async with k.db.transaction() as session:
            await k.hooks.call("demo_data", kernel=k, session=session)
        return code

    code = asyncio.run(_with_kernel(kernel, run))
    if code == 0:
        print(f"admin login: {args.admin_email} / {password}  (POST /api/admin/auth/login/)")
    return code


def _plugin_command(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        kernel = _kernel()
        result = command.run(args, kernel)
        if asyncio.iscoroutine(result):

            async def go(k: Any, coro: Any = result) -> Any:
                return await coro

            result = asyncio.run(_with_kernel(kernel, go))
        return int(result or 0)

    return run


def build_parser(plugin_commands: Sequence[Command] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="commerce",
        description="Run and manage a commerce-kernel deployment. "
        "Settings come from the environment and .env (see README).",
    )
    parser.add_argument("--version", action="version", version=f"commerce-kernel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("serve", help="run the HTTP/WebSocket server (uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="app processes (needs REDIS_URL if > 1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("migrate", help="upgrade the database for every enabled plugin")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("makemigrations", help="autogenerate a migration into one plugin's folder")
    p.add_argument("plugin")
    p.add_argument("-m", "--message", default="auto")
    p.set_defaults(func=cmd_makemigrations)

    p = sub.add_parser("worker", help="run a task worker (arq on REDIS_URL) with cron jobs")
    p.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    p.add_argument("--no-cron", action="store_true", help="do not run cron jobs in this worker")
    p.add_argument("--max-jobs", type=int, default=10, help="jobs run at once")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("createsuperuser", help="create (or promote) an admin account")
    p.add_argument("--email")
    p.add_argument("--password")
    p.add_argument("--name")
    p.set_defaults(func=cmd_createsuperuser)

    p = sub.add_parser("plugins", help="list the enabled plugins with versions and hooks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("openapi", help="print the OpenAPI document of the enabled plugins")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_openapi)

    p = sub.add_parser("new-plugin", help="scaffold a new plugin distribution")
    p.add_argument("name", help="plugin name, a Python identifier (e.g. shop_extra)")
    p.add_argument("--directory", default=".", help="where to create commerce-NAME/")
    p.set_defaults(func=cmd_new_plugin)

    p = sub.add_parser("demo", help="migrate, create an admin and demo data (embedded default)")
    p.add_argument("--admin-email", default="admin@example.com")
    p.add_argument("--admin-password", help="default: a random one, printed")
    p.set_defaults(func=cmd_demo)

    for command in plugin_commands:
        p = sub.add_parser(command.name, help=command.help)
        if command.configure:
            command.configure(p)
        p.set_defaults(func=_plugin_command(command))
    return parser


def _plugin_commands() -> list[Command]:
    """Commands of the enabled plugins; a broken plugin set is reported when a command runs."""
    from pydantic import ValidationError

    from commerce_kernel.plugins import build_plugin_manager, load_plugins
    from commerce_kernel.settings import Settings

    try:
        settings = Settings()
        loaded = load_plugins(settings.commerce_plugins, settings.commerce_disabled_plugins)
        _, hooks = build_plugin_manager(loaded)
        return list(hooks.call_sync("cli_commands"))
    except (PluginError, ValidationError):
        return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(_plugin_commands())
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (PluginError, MissingSecretKey) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        # A missing table or an unreachable server: one line, not a driver traceback.
        print(
            f"error: database: {exc.orig}\n"
            "(is DATABASE_URL right, and has `commerce migrate` run for the enabled plugins?)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from alembic.util import CommandError

        if not isinstance(exc, CommandError):
            raise
        print(f"error: migrations: {exc}", file=sys.stderr)
        if "Can't locate revision" in str(exc):
            print(
                "(the database has a migration that no installed plugin provides: was a plugin "
                "uninstalled after its migrations ran? Reinstall it; to stop using a plugin, "
                "disable it with COMMERCE_DISABLED_PLUGINS instead)",
                file=sys.stderr,
            )
        return 1


if __name__ == "__main__":
    sys.exit(main())
