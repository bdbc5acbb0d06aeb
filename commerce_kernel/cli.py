"""The `commerce` command line: the plugins are loaded once, and every subcommand (the
kernel's own and the plugins') comes from the `cli_commands` hook."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from commerce_kernel import hookspecs
from commerce_kernel.commands import Command, run_command
from commerce_kernel.kernel import Kernel
from commerce_kernel.mail import MailToLogRefused
from commerce_kernel.markers import PluginError
from commerce_kernel.settings import MissingSecretKey, Settings
from commerce_kernel.version import __version__

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

# What a shell reports for a tool stopped by SIGPIPE (`yes | head`): the status `commerce`
# exits with when the reader of its output went away.
PIPE_CLOSED = 128 + signal.SIGPIPE

EPILOG = f"""\
Progress goes to stderr, results to stdout. Exit status: 0 done; 1 failed (a database or
migration error, an import with rows that failed); 2 refused (invalid arguments or
settings); {PIPE_CLOSED} the reader of the output went away, as `commerce openapi | head`
does (nothing more is written, and no traceback).
"""


class _Parser(argparse.ArgumentParser):
    """argparse's, except that help written to a closed pipe ends as any output does (argparse
    drops the error and exits 0)."""

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        (file or sys.stdout).write(self.format_help())


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="commerce",
        description="Run and manage a commerce-kernel deployment. "
        "Settings come from the environment and .env (see README).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"commerce-kernel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        if command.configure:
            command.configure(p)
        p.set_defaults(commerce_command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The `commerce` script: run one command and return its exit status."""
    try:
        try:
            return _main(argv)
        finally:
            # On a pipe, stdout is buffered: a reader that went away shows here, not in the
            # interpreter's last flush (which would print an "Exception ignored" warning).
            sys.stdout.flush()
    except BrokenPipeError:
        _discard_output()
        return PIPE_CLOSED


def _discard_output() -> None:
    """Point stdout and stderr at /dev/null: what is still buffered for the closed pipe is
    dropped at exit instead of failing again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            pass  # not a real file (replaced by the caller): nothing to redirect
    os.close(devnull)


def _main(argv: Sequence[str] | None) -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    plugin_error: PluginError | None = None
    try:
        kernel = Kernel.load(settings)
    except PluginError as exc:
        # The kernel's own commands still work (`--help`, `new-plugin`); the others report it.
        plugin_error = exc
        kernel = Kernel.load(settings, plugins=[])
    parser = build_parser(kernel.hooks.call_sync(hookspecs.cli_commands))
    args = parser.parse_args(argv)
    command: Command = args.commerce_command
    if plugin_error is not None and command.needs_plugins:
        print(f"error: {plugin_error}", file=sys.stderr)
        return 2
    try:
        return run_command(command, args, kernel)
    except (PluginError, MissingSecretKey, MailToLogRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        # A missing table or an unreachable server: one line, not a driver traceback.
        print(
            f"error: database: {exc.orig}\n"
            "(is DATABASE_URL right, and has `commerce migrate` run for the enabled plugins?)",
            file=sys.stderr,
        )
        return 1
    except CommandError as exc:
        print(f"error: migrations: {exc}", file=sys.stderr)
        if "Can't locate revision" in str(exc):
            print(
                "(the database has a migration that no installed plugin provides: was a plugin "
                "uninstalled after its migrations ran? Reinstall it; to stop using a plugin, "
                "disable it with COMMERCE_DISABLED_PLUGINS instead)",
                file=sys.stderr,
            )
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
