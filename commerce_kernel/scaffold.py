"""`commerce new-plugin NAME`: a working plugin distribution to start from.

The templates are `string.Template`s (`$name`, `${Camel}`, ...; `$$` is a literal dollar), so
the Python they generate keeps its braces as they are.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from string import Template

from commerce_kernel.version import __version__

_FILES: dict[str, str] = {
    "pyproject.toml": """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "commerce-$dist"
version = "0.1.0"
description = "$name: a commerce-kernel plugin."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["commerce-kernel>=$kernel_min,<$kernel_next"]

[project.optional-dependencies]
# The kernel's test kit (its pytest plugin) and the type check.
dev = ["commerce-kernel[test]>=$kernel_min,<$kernel_next", "mypy"]

[project.entry-points."commerce_kernel.plugins"]
# The entry point names the plugin module, not the package.
$name = "commerce_$name.plugin"

[tool.setuptools.packages.find]
include = ["commerce_$name*"]

[tool.setuptools.package-data]
"commerce_$name" = ["py.typed", "migrations/versions/*.py"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
testpaths = ["tests"]

[tool.mypy]
python_version = "3.11"
strict = true
files = ["commerce_$name"]

[tool.ruff]
line-length = 100
target-version = "py311"

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "ASYNC", "RUF"]
ignore = ["E501"]
""",
    "README.md": """\
# commerce-$dist

`$name`, a commerce-kernel plugin: notes, an example resource to grow from.

## Install and run

    pip install -e .          # into the environment commerce-kernel is installed in
    commerce migrate          # creates the table ${name}_notes (migration branch `$name`)
    commerce serve            # restart a running server: plugins load when it starts

Run `commerce migrate` where the server runs, on the same database: the same `DATABASE_URL`,
or, with it unset, the same directory (the default database is `./commerce.db` there). It
prints the database it upgraded; `commerce serve` logs the one it serves.

It is found through its entry point (`$name = "commerce_$name.plugin"`) and runs when
`COMMERCE_PLUGINS` is unset or names it.

## What it adds

- `GET /api/$slug/notes/`: every note, oldest first (anyone).
- `POST /api/$slug/notes/` `{"text": "..."}`: add a note (admin token); answers 201.
- Task `$name.mail_note`: mails each new note to `${ENV}_NOTIFY_EMAIL`, retried while the
  mail server fails.
- Cron job `$name.purge_notes`: every day at 03:00 UTC, deletes the notes older than
  `${ENV}_KEEP_DAYS` days (once per deployment: in `commerce worker` on Redis).
- An optional listener of the orders plugin's `order_placed` hook: with orders installed,
  each placed order adds a note; without it, nothing happens (this plugin does not require
  orders).

## Settings (environment or `.env`)

| variable | default | |
|---|---|---|
| `${ENV}_KEEP_DAYS` | 90 | notes older than this are purged |
| `${ENV}_NOTIFY_EMAIL` | unset | where new notes are mailed; unset: nowhere |

## Layout

    commerce_$name/
      __init__.py       docstring and __version__
      plugin.py         the entry point: `plugin = Plugin(...)` and the hook implementations
      api.py            the public module: the only one other plugins import
      models.py         the table (SQLAlchemy, on commerce_kernel.Base)
      routes.py         the HTTP endpoints
      settings.py       the settings section (prefix `${ENV}_`, from the plugin name)
      tasks.py          the task and the cron job
      migrations/versions/${name}_0001_notes.py
      py.typed
    tests/              conftest.py chooses the plugins and settings under test

## Develop

    pip install -e ".[dev]"
    pytest                    # SQLite and in-process queue; COMMERCE_TEST_DATABASE_URL and
                              # COMMERCE_TEST_REDIS_URL select MariaDB and Redis
    mypy                      # strict, on commerce_$name
    commerce makemigrations $name -m "what changed"   # after editing models.py

mypy reads the kernel's types from its installed package (it ships `py.typed`). A kernel
installed editable (`pip install -e`) is found through an import hook mypy does not run:
point `MYPYPATH` at its checkout, or install it with
`--config-settings editable_mode=compat`.

See the kernel's docs/plugin-authoring.md for every hook and the test kit's fixtures.
""",
    "commerce_$name/__init__.py": '''\
"""The $name plugin: notes, an example resource to grow from.

Its entry point names `commerce_$name.plugin`; other plugins import only `commerce_$name.api`.
"""

__version__ = "0.1.0"
''',
    "commerce_$name/py.typed": "",
    "commerce_$name/plugin.py": '''\
"""The $name plugin module (its entry point): the declaration and the hook implementations,
each a function named exactly after the spec it implements (`commerce_kernel.hookspecs`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from commerce_kernel import CronJob, Kernel, Plugin, SectionSettings, Task, hookimpl
from starlette.routing import BaseRoute

from commerce_$name import __version__, api
from commerce_$name.routes import all_routes
$import_settings
from commerce_$name.tasks import all_cron_jobs, all_tasks

plugin = Plugin(
    name="$name",
    version=__version__,
    kernel=">=$kernel_min,<$kernel_next",
    description="$name: notes, an example resource.",
)


@hookimpl
def settings_section() -> list[type[SectionSettings]]:
    return [${Camel}Settings]


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    return all_routes()


@hookimpl
def tasks(kernel: Kernel) -> list[Task]:
    return all_tasks()


@hookimpl
def cron_jobs(kernel: Kernel) -> list[CronJob]:
    return all_cron_jobs()


@hookimpl(optionalhook=True)
async def order_placed(kernel: Kernel, order: Mapping[str, Any]) -> None:
    """The orders plugin's after-commit event: note each placed order. This plugin does not
    require orders (`optionalhook`), so it reads the keys it needs instead of importing the
    orders' types; without orders, this is never called."""
    await api.add_note(kernel, f"Order #{order['id']} placed")
''',
    "commerce_$name/api.py": '''\
"""The $name plugin's public module: the only one other plugins may import."""

from __future__ import annotations

from datetime import datetime

from commerce_kernel import Kernel
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_$name.models import Note

MAIL_NOTE = "$name.mail_note"
PURGE_NOTES = "$name.purge_notes"


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    created_at: datetime


async def add_note(kernel: Kernel, text: str) -> NoteOut:
    """Store a note, then queue its mail (after the commit, so the task finds it)."""
    async with kernel.db.transaction() as session:
        note = Note(text=text)
        session.add(note)
        await session.flush()
        out = NoteOut.model_validate(note)
    await kernel.queue.enqueue(MAIL_NOTE, out.id)
    return out


async def list_notes(session: AsyncSession) -> list[NoteOut]:
    """Every note, oldest first."""
    rows = (await session.execute(select(Note).order_by(Note.id))).scalars()
    return [NoteOut.model_validate(n) for n in rows]


__all__ = ["MAIL_NOTE", "PURGE_NOTES", "NoteOut", "add_note", "list_notes"]
''',
    "commerce_$name/models.py": '''\
"""The $name plugin's tables (migration branch `$name`)."""

from __future__ import annotations

from datetime import datetime

from commerce_kernel import Base, UTCDateTime, utcnow
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column


class Note(Base):
    __tablename__ = "${name}_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
''',
    "commerce_$name/routes.py": '''\
"""The $name plugin's HTTP endpoints."""

from __future__ import annotations

from commerce_kernel import Call, admin, api_route, routes_from
from pydantic import BaseModel, Field
from starlette.routing import BaseRoute

from commerce_$name import api
from commerce_$name.api import NoteOut


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=500)


@api_route(
    "/api/$slug/notes/",
    response=list[NoteOut],
    tags=["$name"],
    summary="List notes",
)
async def list_notes(call: Call) -> list[NoteOut]:
    async with call.kernel.db.session() as session:
        return await api.list_notes(session)


@api_route(
    "/api/$slug/notes/",
    "POST",
    guard=admin,
    body=NoteIn,
    response=NoteOut,
    status=201,
    tags=["$name"],
    summary="Add a note (admin)",
)
async def add_note(call: Call) -> NoteOut:
    body: NoteIn = call.body
    return await api.add_note(call.kernel, body.text)


def all_routes() -> list[BaseRoute]:
    return [*routes_from(list_notes, add_note)]
''',
    "commerce_$name/settings.py": '''\
"""The $name plugin's settings section (environment and `.env`, read at start-up)."""

from __future__ import annotations

from commerce_kernel import SectionSettings
from pydantic import Field


class ${Camel}Settings(SectionSettings):
    """`kernel.section(${Camel}Settings)`. No `env_prefix`: the kernel derives the prefix from
    the plugin name, so `keep_days` is the variable `${ENV}_KEEP_DAYS`."""

    keep_days: int = Field(90, ge=1)
    """${ENV}_KEEP_DAYS: the daily `$name.purge_notes` job deletes older notes."""
    notify_email: str | None = None
    """${ENV}_NOTIFY_EMAIL: where each new note is mailed (unset: nowhere)."""
''',
    "commerce_$name/tasks.py": '''\
"""The $name plugin's background work: a task and a cron job."""

from __future__ import annotations

from datetime import timedelta

from commerce_kernel import CronJob, Mail, Task, TaskContext, utcnow
from sqlalchemy import delete

from commerce_$name.api import MAIL_NOTE, PURGE_NOTES
from commerce_$name.models import Note
$import_settings


async def mail_note(ctx: TaskContext, note_id: int) -> None:
    """Mail a new note to ${ENV}_NOTIFY_EMAIL (none when unset).

    A failed send raises, so the queue tries again with backoff.
    """
    to = ctx.kernel.section(${Camel}Settings).notify_email
    if not to:
        return
    async with ctx.kernel.db.session() as session:
        note = await session.get(Note, note_id)
    if note is None:  # deleted since
        return
    await ctx.kernel.mailer.send(Mail(to=[to], subject=f"New note #{note.id}", body=note.text))


async def purge_notes(ctx: TaskContext) -> None:
    """Delete the notes older than ${ENV}_KEEP_DAYS."""
    settings = ctx.kernel.section(${Camel}Settings)
    cutoff = utcnow() - timedelta(days=settings.keep_days)
    async with ctx.kernel.db.transaction() as session:
        await session.execute(delete(Note).where(Note.created_at < cutoff))


def all_tasks() -> list[Task]:
    # A short timeout: on Redis, the job of a killed worker runs again only after the
    # deployment's longest task timeout + 15 s.
    return [Task(MAIL_NOTE, mail_note, max_tries=5, timeout=30)]


def all_cron_jobs() -> list[CronJob]:
    return [CronJob(PURGE_NOTES, purge_notes, hour=3, minute=0)]
''',
    "commerce_$name/migrations/__init__.py": "",
    "commerce_$name/migrations/versions/${name}_0001_notes.py": '''\
"""$name notes

Revision ID: ${name}_0001
Revises:
Create Date: initial
"""

import commerce_kernel.db
import sqlalchemy as sa
from alembic import op

revision = "${name}_0001"
down_revision = None
branch_labels = ("$name",)
depends_on = ("kernel_0001",)


def upgrade() -> None:
    op.create_table(
        "${name}_notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("created_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_${name}_notes")),
    )


def downgrade() -> None:
    op.drop_table("${name}_notes")
''',
    "tests/conftest.py": '''\
"""The deployment these tests run against (the kernel's pytest plugin, `commerce`)."""

import pytest


@pytest.fixture(scope="session")
def commerce_plugins():
    # The plugins under test; those they require are added, nothing else is loaded.
    return ["$name"]


@pytest.fixture(scope="session")
def commerce_settings():
    # Named as a deployment's environment names them: the section's prefix is `${ENV}_`.
    return {
        "${ENV}_KEEP_DAYS": "30",
        "${ENV}_NOTIFY_EMAIL": "team@example.com",
    }
''',
    "tests/test_routes.py": """\
NOTES = "/api/$slug/notes/"


async def test_admin_adds_a_note_everyone_reads_it(client, admin, customer):
    refused = await customer.client.post(NOTES, json={"text": "hi"})
    assert refused.status_code == 403
    created = await admin.client.post(NOTES, json={"text": "hello"})
    assert created.status_code == 201, created.text
    listed = await client.get(NOTES)
    assert [n["text"] for n in listed.json()] == ["hello"]


async def test_empty_note_is_refused(admin):
    r = await admin.client.post(NOTES, json={"text": ""})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "text"]
""",
    "tests/test_tasks.py": """\
NOTES = "/api/$slug/notes/"


async def test_a_new_note_is_mailed(admin, run_tasks, mailbox):
    r = await admin.client.post(NOTES, json={"text": "restock the shelves"})
    assert r.status_code == 201, r.text
    await run_tasks()
    subject = f"New note #{r.json()['id']}"
    assert [(m["To"], m["Subject"]) for m in mailbox] == [("team@example.com", subject)]
    assert mailbox[0].get_content().strip() == "restock the shelves"
""",
    "tests/test_cron.py": """\
from datetime import timedelta

from commerce_kernel import utcnow
from sqlalchemy import update

from commerce_$name.models import Note

NOTES = "/api/$slug/notes/"


async def test_purge_deletes_notes_older_than_keep_days(kernel, admin, client, run_cron):
    old = (await admin.client.post(NOTES, json={"text": "old"})).json()
    await admin.client.post(NOTES, json={"text": "new"})
    # ${ENV}_KEEP_DAYS is 30 in conftest.py.
    long_ago = utcnow() - timedelta(days=31)
    async with kernel.db.transaction() as session:
        await session.execute(update(Note).where(Note.id == old["id"]).values(created_at=long_ago))
    # Cron jobs never fire by the clock in tests: run_cron runs one now.
    await run_cron("$name.purge_notes")
    assert [n["text"] for n in (await client.get(NOTES)).json()] == ["new"]
""",
    "tests/test_settings.py": """\
$import_settings


async def test_settings_are_read_with_the_plugin_prefix(kernel):
    # conftest.py gives ${ENV}_KEEP_DAYS and ${ENV}_NOTIFY_EMAIL.
    section = kernel.section(${Camel}Settings)
    assert section.keep_days == 30
    assert section.notify_email == "team@example.com"
""",
    "tests/test_order_placed.py": """\
from commerce_$name import plugin

NOTES = "/api/$slug/notes/"


async def test_a_placed_order_adds_a_note(kernel, client):
    # The orders plugin calls this hook when it is installed; here it is not, so call the
    # implementation itself.
    await plugin.order_placed(kernel, {"id": 12, "account_id": 1})
    listed = await client.get(NOTES)
    assert [n["text"] for n in listed.json()] == ["Order #12 placed"]
""",
}

RESERVED = {"kernel"}  # the kernel's own plugin


def valid_name(name: str) -> bool:
    return (
        bool(re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name))
        and not keyword.iskeyword(name)
        and name not in RESERVED
    )


def scaffold(name: str, directory: str | Path = ".") -> Path:
    """Write `commerce-NAME/`: pyproject (entry point, mypy and pytest settings), the package
    (plugin module, public `api`, model, routes, settings section, task and cron job, a
    migration branch), its tests and a README."""
    if name in RESERVED:
        raise SystemExit(f"invalid plugin name {name!r}: the kernel's own plugin has that name")
    if not valid_name(name):
        raise SystemExit(f"invalid plugin name {name!r}: use lower case letters, digits and _")
    dist = name.replace("_", "-")
    root = Path(directory) / f"commerce-{dist}"
    if root.exists():
        raise SystemExit(f"{root} already exists")
    major, minor, *_ = __version__.split(".")
    values = {
        "name": name,
        "dist": dist,
        "slug": dist,
        "Camel": "".join(part.capitalize() for part in name.split("_")),
        "ENV": name.upper(),
        "kernel_min": f"{major}.{minor}",
        "kernel_next": f"{major}.{int(minor) + 1}",
    }
    # The import as ruff's isort writes it, so the generated files pass `ruff check` as they are.
    module, cls = f"commerce_{name}.settings", f"{values['Camel']}Settings"
    one_line = f"from {module} import {cls}"
    values["import_settings"] = (
        one_line if len(one_line) <= 100 else f"from {module} import (\n    {cls},\n)"
    )
    for rel, template in _FILES.items():
        path = root / Template(rel).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values))
    return root
